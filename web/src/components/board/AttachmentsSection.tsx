import { useCallback, useEffect, useRef, useState, type RefObject } from "react";
import { errorMessage } from "../../api/errors";
import type { Attachment, Member, UploadOptions } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import type { BoardSync } from "../../live/boardSync";
import { Alert } from "../Alert";

interface Props {
  taskId: string;
  /** Undefined until loaded; kept current by live events afterwards. */
  attachments: readonly Attachment[] | undefined;
  members: Member[];
  canEdit: boolean;
  sync: BoardSync;
  /** Files dropped anywhere on this element are attached (the task dialog). */
  dropZone: RefObject<HTMLElement | null>;
}

interface Upload {
  key: number;
  name: string;
  loaded: number;
  total: number;
  controller: AbortController;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

let uploadKeys = 0;

/** The task's files: the list (name, size, who, when), download, delete, and uploads with progress. */
export function AttachmentsSection({ taskId, attachments, members, canEdit, sync, dropZone }: Props) {
  const api = useApi();
  const [loadError, setLoadError] = useState<string | null>(null);
  const [options, setOptions] = useState<UploadOptions | null>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [problems, setProblems] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const missing = attachments === undefined;

  // Load when missing: on open, and again after a full resync drops them from the state.
  useEffect(() => {
    if (!missing) return;
    let cancelled = false;
    setLoadError(null);
    api.attachments
      .list(taskId)
      .then((list) => !cancelled && sync.setAttachments(taskId, list))
      .catch((err: unknown) => !cancelled && setLoadError(errorMessage(err)));
    return () => {
      cancelled = true;
    };
  }, [api, missing, sync, taskId]);

  useEffect(() => {
    if (!canEdit) return;
    let cancelled = false;
    api.attachments
      .options(taskId)
      .then((o) => !cancelled && setOptions(o))
      .catch(() => undefined); // the upload itself will say what is wrong
    return () => {
      cancelled = true;
    };
  }, [api, canEdit, taskId]);

  const upload = useCallback(
    (files: File[]) => {
      const refused: string[] = [];
      for (const file of files) {
        if (options && file.size > options.max_bytes) {
          refused.push(`“${file.name}” is ${formatBytes(file.size)}; files can be at most ${formatBytes(options.max_bytes)}.`);
          continue;
        }
        if (file.size === 0) {
          refused.push(`“${file.name}” is empty.`);
          continue;
        }
        const entry: Upload = { key: ++uploadKeys, name: file.name, loaded: 0, total: file.size, controller: new AbortController() };
        setUploads((list) => [...list, entry]);
        const progress = (loaded: number, total: number) =>
          setUploads((list) => list.map((u) => (u.key === entry.key ? { ...u, loaded, total } : u)));
        api.attachments
          .upload(taskId, file, { direct: options?.direct_upload ?? false, onProgress: progress, signal: entry.controller.signal })
          .then((attachment) => sync.addLocalAttachment(attachment))
          .catch((err: unknown) => {
            if (err instanceof DOMException && err.name === "AbortError") return;
            setProblems((p) => [...p, `“${file.name}” was not attached: ${errorMessage(err)}`]);
          })
          .finally(() => setUploads((list) => list.filter((u) => u.key !== entry.key)));
      }
      setProblems(refused);
    },
    [api, options, sync, taskId],
  );

  // Dropping files on the task (anywhere in its dialog) attaches them.
  useEffect(() => {
    const zone = dropZone.current;
    if (!zone || !canEdit) return;
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (!zone.contains(e.relatedTarget as Node | null)) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      setDragging(false);
      upload([...(e.dataTransfer?.files ?? [])]);
    };
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", leave);
    zone.addEventListener("drop", drop);
    return () => {
      zone.removeEventListener("dragover", over);
      zone.removeEventListener("dragleave", leave);
      zone.removeEventListener("drop", drop);
    };
  }, [dropZone, canEdit, upload]);

  const [busy, setBusy] = useState<string | null>(null);
  const download = async (a: Attachment) => {
    setBusy(a.id);
    setProblems([]);
    try {
      const blob = await api.attachments.download(taskId, a.id);
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = a.filename;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      setProblems([`“${a.filename}” could not be downloaded: ${errorMessage(err)}`]);
    } finally {
      setBusy(null);
    }
  };
  const remove = async (a: Attachment) => {
    setBusy(a.id);
    setProblems([]);
    try {
      await api.attachments.remove(taskId, a.id);
      sync.removeLocalAttachment(taskId, a.id);
    } catch (err) {
      setProblems([`“${a.filename}” was not deleted: ${errorMessage(err)}`]);
    } finally {
      setBusy(null);
    }
  };

  const nameOf = (id: string) => members.find((m) => m.user_id === id)?.name ?? "Former member";
  const headingId = `attachments-${taskId}`;
  const hintId = `attachments-hint-${taskId}`;
  return (
    <section className={`attachments${dragging ? " drop-files" : ""}`} aria-labelledby={headingId} data-testid="attachments">
      <h3 id={headingId}>Attachments{attachments ? ` (${attachments.length})` : ""}</h3>
      <Alert>{loadError}</Alert>
      {problems.map((p) => (
        <Alert key={p}>{p}</Alert>
      ))}
      {attachments === undefined && !loadError && <p className="loading">Loading attachments…</p>}
      {attachments && attachments.length === 0 && uploads.length === 0 && <p className="muted">No files attached.</p>}
      {attachments && attachments.length > 0 && (
        <ul className="attachment-list">
          {attachments.map((a) => (
            <li key={a.id} data-testid="attachment">
              <button type="button" className="link-button attachment-name" onClick={() => void download(a)}
                disabled={busy === a.id} aria-label={`Download ${a.filename}`}>
                {a.filename}
              </button>
              <span className="attachment-meta">
                {formatBytes(a.size)} · {nameOf(a.created_by)} ·{" "}
                <time dateTime={a.created_at}>{new Date(a.created_at).toLocaleString()}</time>
              </span>
              {canEdit && (
                <button type="button" className="button-secondary" disabled={busy === a.id} onClick={() => void remove(a)}>
                  Delete<span className="visually-hidden"> {a.filename}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {uploads.length > 0 && (
        <ul className="upload-list" aria-label="Uploads in progress">
          {uploads.map((u) => {
            const percent = u.total ? Math.round((u.loaded / u.total) * 100) : 0;
            return (
              <li key={u.key} data-testid="upload">
                <label>
                  <span className="upload-name">{u.name}</span>
                  <progress max={100} value={percent}>
                    {percent}%
                  </progress>
                  <span className="upload-percent">{percent}%</span>
                </label>
                <button type="button" className="button-secondary" onClick={() => u.controller.abort()}>
                  Cancel<span className="visually-hidden"> uploading {u.name}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {canEdit && (
        <div className="attach-controls">
          <label className="visually-hidden" htmlFor={`attach-${taskId}`}>Attach files to this task</label>
          <input ref={input} id={`attach-${taskId}`} type="file" multiple className="visually-hidden" tabIndex={-1}
            onChange={(e) => {
              upload([...(e.target.files ?? [])]);
              e.target.value = "";
            }} />
          <button type="button" className="button-secondary" onClick={() => input.current?.click()} aria-describedby={hintId}>
            Attach files…
          </button>
          <p id={hintId} className="field-hint">
            Or drop files onto this task.{options ? ` Up to ${formatBytes(options.max_bytes)} per file.` : ""}
          </p>
        </div>
      )}
    </section>
  );
}
