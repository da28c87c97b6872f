import type { PresenceUser } from "../../api/types";
import { Avatar } from "../Avatar";

/** Who else has this board open right now. */
export function PresenceBar({ users, me }: { users: PresenceUser[]; me: string }) {
  const others = users.filter((u) => u.user_id !== me);
  return (
    <div className="presence" aria-label="People viewing this board" role="group" data-testid="presence">
      {others.length === 0 ? (
        <span className="presence-empty">Only you are here</span>
      ) : (
        <>
          <span className="visually-hidden">Also here: </span>
          <ul>
            {others.map((u) => (
              <li key={u.user_id}>
                <Avatar name={u.name} userId={u.user_id} size="sm" />
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
