// Initialises the compose stack's MongoDB: replica set rs0 (mongo-1, mongo-2, mongo-3) and
// TaskFlow's database user. Run by the mongo-init service (mongosh, connected directly to
// mongo-1) on every `docker compose up`; every step is idempotent, and the user's password
// is reset to the one in .env (MONGO_APP_PASSWORD) each time, which is how it is rotated.
const fs = require("fs");

const secret = (name) => fs.readFileSync(`/run/secrets/${name}`, "utf8").trim();
const env = (name, fallback) => process.env[name] || fallback;

const rootUser = env("MONGO_ROOT_USERNAME", "root");
const rootPassword = secret("mongo_root_password");
const appUser = env("MONGO_APP_USERNAME", "taskflow");
const appDatabase = env("MONGO_APP_DATABASE", "taskflow");
const members = ["mongo-1:27017", "mongo-2:27017", "mongo-3:27017"];

db.getSiblingDB("admin").auth(rootUser, rootPassword);

try {
  rs.status();
  print("mongo-init: replica set rs0 is already initiated");
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  // mongo-1 holds the root user created on its first start: it seeds the set, the others
  // join empty and copy it (initial sync). Its higher priority keeps it primary when healthy.
  rs.initiate({
    _id: "rs0",
    members: members.map((host, i) => ({ _id: i, host, priority: i === 0 ? 2 : 1 })),
  });
  print("mongo-init: replica set rs0 initiated");
}

// The user goes to the primary, whichever member that is now.
const seeds = members.join(",");
let primary = null;
for (let attempt = 0; attempt < 120 && primary === null; attempt++) {
  try {
    const conn = new Mongo(`mongodb://${seeds}/?replicaSet=rs0`);
    const admin = conn.getDB("admin");
    admin.auth(rootUser, rootPassword);
    if (admin.hello().isWritablePrimary || admin.hello().primary) primary = admin;
  } catch (error) {
    print(`mongo-init: waiting for a primary (${error.message})`);
  }
  if (primary === null) sleep(1000);
}
if (primary === null) throw new Error("mongo-init: no primary after 120 s");

const roles = [{ role: "readWrite", db: appDatabase }];
const password = secret("mongo_app_password");
if (primary.getUser(appUser)) {
  primary.updateUser(appUser, { pwd: password, roles });
  print(`mongo-init: user ${appUser} updated (readWrite on ${appDatabase})`);
} else {
  primary.createUser({ user: appUser, pwd: password, roles });
  print(`mongo-init: user ${appUser} created (readWrite on ${appDatabase})`);
}
