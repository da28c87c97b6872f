import type { Board } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { Alert } from "../Alert";
import { useAction } from "../useAction";

/** Saves a blob under `name` through the browser's download. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A file name from a board name: letters, digits and dashes. */
export function exportName(board: Pick<Board, "name">, ext: "json" | "csv"): string {
  const stem = board.name.normalize("NFKD").replace(/[^\w]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase();
  return `${stem || "board"}.${ext}`;
}

/** Export the board (any member): everything as JSON, or its tasks as CSV. */
export function BoardExport({ board }: { board: Board }) {
  const api = useApi();
  const download = useAction(async (format: "json" | "csv") => {
    saveBlob(await api.boards.exportFile(board.id, format), exportName(board, format));
  });
  return (
    <div className="board-export">
      <h3>Export</h3>
      <Alert>{download.message}</Alert>
      <div className="button-row">
        <button type="button" className="button-secondary" disabled={download.pending} onClick={() => void download.run("json")}>
          Export board (JSON)
        </button>
        <button type="button" className="button-secondary" disabled={download.pending} onClick={() => void download.run("csv")}>
          Export tasks (CSV)
        </button>
      </div>
    </div>
  );
}
