import { useEffect, useRef, useState, type FormEvent } from "react";
import type { Comment, Member } from "../../api/types";
import { errorMessage } from "../../api/errors";
import { useApi } from "../../app/ServicesContext";
import type { BoardSync } from "../../live/boardSync";
import { Alert } from "../Alert";
import { TextAreaField } from "../Field";
import { useAction } from "../useAction";
import { insertMention } from "../../notifications/state";

interface Props {
  taskId: string;
  /** Undefined until loaded; kept current by live events afterwards. */
  comments: readonly Comment[] | undefined;
  members: Member[];
  me: string;
  isOwner: boolean;
  canComment: boolean;
  sync: BoardSync;
}

export function CommentsSection({ taskId, comments, members, me, isOwner, canComment, sync }: Props) {
  const api = useApi();
  const [loadError, setLoadError] = useState<string | null>(null);
  const [body, setBody] = useState("");
  const missing = comments === undefined;

  // Load when missing: on open, and again after a full resync drops them from the state.
  useEffect(() => {
    if (!missing) return;
    let cancelled = false;
    setLoadError(null);
    api.tasks
      .comments(taskId)
      .then((list) => !cancelled && sync.setComments(taskId, list))
      .catch((err: unknown) => !cancelled && setLoadError(errorMessage(err)));
    return () => {
      cancelled = true;
    };
  }, [api, missing, sync, taskId]);

  const add = useAction(async () => {
    remove.reset();
    sync.addLocalComment(await api.tasks.addComment(taskId, body.trim()));
    setBody("");
  });
  const remove = useAction(async (comment: Comment) => {
    add.reset();
    await api.tasks.removeComment(taskId, comment.id);
    sync.removeLocalComment(taskId, comment.id);
  });

  const form = useRef<HTMLFormElement>(null);
  const mention = (userId: string) => {
    const member = members.find((m) => m.user_id === userId);
    const area = form.current?.querySelector("textarea");
    if (!member || !area) return;
    const next = insertMention(body, area.selectionStart ?? body.length, member.name);
    setBody(next.text);
    requestAnimationFrame(() => {
      area.focus();
      area.setSelectionRange(next.caret, next.caret);
    });
  };

  const nameOf = (id: string) => members.find((m) => m.user_id === id)?.name ?? "Former member";
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (body.trim()) void add.run();
  };

  return (
    <section className="comments" aria-labelledby={`comments-${taskId}`}>
      <h3 id={`comments-${taskId}`}>Comments{comments ? ` (${comments.length})` : ""}</h3>
      <Alert>{loadError ?? remove.message}</Alert>
      {comments === undefined && !loadError && <p className="loading">Loading comments…</p>}
      {comments && comments.length === 0 && <p className="muted">No comments yet.</p>}
      {comments && comments.length > 0 && (
        <ol className="comment-list">
          {comments.map((c) => (
            <li key={c.id}>
              <p className="comment-head">
                <strong>{nameOf(c.author_id)}</strong>{" "}
                <time dateTime={c.created_at}>{new Date(c.created_at).toLocaleString()}</time>
              </p>
              <p className="comment-body">{c.body}</p>
              {(c.author_id === me || isOwner) && (
                <button type="button" className="link-button" onClick={() => void remove.run(c)}
                  aria-label={`Delete comment by ${nameOf(c.author_id)}`}>
                  Delete
                </button>
              )}
            </li>
          ))}
        </ol>
      )}
      {canComment && (
        <form ref={form} onSubmit={onSubmit} noValidate>
          <Alert>{add.fields.body ? null : add.message}</Alert>
          <TextAreaField label="Add a comment" name="body" rows={2} value={body}
            onChange={(e) => setBody(e.target.value)} error={add.fields.body} />
          <label className="mention-picker">
            <span>Mention a member (they are notified; or type @[Their Name])</span>
            <select value="" onChange={(e) => mention(e.target.value)}>
              <option value="">Choose a member…</option>
              {members.filter((m) => m.user_id !== me).map((m) => (
                <option key={m.user_id} value={m.user_id}>{m.name}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={add.pending || !body.trim()}>
            {add.pending ? "Posting…" : "Post comment"}
          </button>
        </form>
      )}
    </section>
  );
}
