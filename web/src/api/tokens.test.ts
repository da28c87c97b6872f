import { describe, expect, it } from "vitest";
import { ACCESS_SCOPES, accessOf } from "./tokens";

describe("token access levels", () => {
  it("each level sends the scopes below it too, and reads back as itself", () => {
    expect(ACCESS_SCOPES.read).toEqual(["read"]);
    expect(ACCESS_SCOPES.write).toEqual(["read", "write"]);
    expect(ACCESS_SCOPES.admin).toEqual(["read", "write", "admin"]);
    for (const level of ["read", "write", "admin"] as const) expect(accessOf(ACCESS_SCOPES[level])).toBe(level);
  });

  it("the highest scope names the level, whatever else is listed", () => {
    expect(accessOf(["admin"])).toBe("admin");
    expect(accessOf(["write"])).toBe("write");
    expect(accessOf([])).toBe("read");
  });
});
