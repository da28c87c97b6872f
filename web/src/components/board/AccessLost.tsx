import { Link } from "react-router";
import type { Access } from "../../live/reducer";

/** Shown instead of the board once it is out of reach (removed from it, or it was deleted). */
export function AccessLost({ access, boardName }: { access: Exclude<Access, "ok">; boardName: string }) {
  return (
    <section className="access-lost" aria-labelledby="access-lost-title">
      <h1 id="access-lost-title">{access === "deleted" ? "This board was deleted" : "You no longer have access to this board"}</h1>
      <p>
        {access === "deleted"
          ? `“${boardName}” has been deleted by its owner.`
          : `You were removed from “${boardName}”, or it is no longer shared with you.`}
      </p>
      <p>
        <Link to="/boards">Back to your boards</Link>
      </p>
    </section>
  );
}
