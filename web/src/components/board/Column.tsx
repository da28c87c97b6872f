import { useRef, useState, type DragEvent, type ReactNode } from "react";
import type { Status } from "../../api/types";
import { STATUS_LABELS } from "../../api/types";

interface Props {
  status: Status;
  count: number;
  /** The task being dragged, if any (dataTransfer can't be read during dragover). */
  draggingId: string | null;
  /** A task was dropped at `index` among this column's other cards. */
  onDrop: (status: Status, index: number) => void;
  children: ReactNode;
  footer?: ReactNode;
}

/** Where among the column's other cards the pointer is: before the first card whose middle is below it. */
function dropIndex(list: HTMLElement, clientY: number, draggingId: string): number {
  const cards = [...list.querySelectorAll<HTMLElement>("[data-task-id]")].filter((c) => c.dataset.taskId !== draggingId);
  const i = cards.findIndex((c) => {
    const r = c.getBoundingClientRect();
    return clientY < r.top + r.height / 2;
  });
  return i < 0 ? cards.length : i;
}

export function Column({ status, count, draggingId, onDrop, children, footer }: Props) {
  const list = useRef<HTMLOListElement>(null);
  const [over, setOver] = useState(false);
  const headingId = `column-${status}`;

  const onDragOver = (e: DragEvent) => {
    if (!draggingId) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (!over) setOver(true);
  };
  const handleDrop = (e: DragEvent) => {
    if (!draggingId || !list.current) return;
    e.preventDefault();
    setOver(false);
    onDrop(status, dropIndex(list.current, e.clientY, draggingId));
  };

  return (
    <section
      className={`column${over ? " drop-target" : ""}`}
      aria-labelledby={headingId}
      data-status={status}
      data-testid={`column-${status}`}
      onDragOver={onDragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
      }}
      onDrop={handleDrop}
    >
      <h2 id={headingId}>
        {STATUS_LABELS[status]} <span className="count">({count})</span>
      </h2>
      <ol ref={list} className="task-list" aria-labelledby={headingId}>
        {children}
      </ol>
      {footer}
    </section>
  );
}
