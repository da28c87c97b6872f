import { useEffect, useState, useSyncExternalStore } from "react";
import { useMe, useServices } from "../app/ServicesContext";
import { BoardSync, type BoardView } from "./boardSync";

const LOADING: BoardView = {
  phase: "loading", error: null, state: null, presence: [], editing: {}, resyncing: false, loadingTasks: false,
};
const noSubscribe = () => () => undefined;

/** Follows one board live for as long as the calling component shows it. */
export function useBoardSync(boardId: string): { view: BoardView; sync: BoardSync | null } {
  const { api, connection } = useServices();
  const me = useMe().id;
  const [sync, setSync] = useState<BoardSync | null>(null);

  useEffect(() => {
    const s = new BoardSync({
      boardId,
      me,
      channel: connection,
      loadBoard: () => api.boards.get(boardId),
      loadTasks: (onPage) => api.tasks.streamForBoard(boardId, onPage),
      fetchEvents: (since, epoch) => api.boards.events(boardId, since, epoch),
    });
    setSync(s);
    void s.start();
    return () => {
      s.stop();
      setSync(null);
    };
  }, [boardId, me, api, connection]);

  const view = useSyncExternalStore(sync?.subscribe ?? noSubscribe, sync?.getView ?? (() => LOADING));
  return { view, sync };
}
