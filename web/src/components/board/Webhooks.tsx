import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { errorMessage } from "../../api/errors";
import type { NewWebhook, Webhook, WebhookDelivery } from "../../api/webhooks";
import { useApi } from "../../app/ServicesContext";
import { eventsLabel, webhookState } from "../../board/webhooks";
import { Alert } from "../Alert";
import { TextField } from "../Field";
import { useAction } from "../useAction";
import { WebhookForm, type WebhookSettings } from "./WebhookForm";

/** How often an open Deliveries view (and the webhooks' states) is read again. */
const REFRESH_MS = 5000;

const when = (iso: string) => new Date(iso).toLocaleString();

/**
 * The board's outgoing webhooks (owner only): made here, their signing secret shown once;
 * each one's state (active, failing, disabled and why), its last deliveries, and buttons to
 * edit its URL and events, disable, enable and delete it. `focus`: the section was asked for (a notification that a
 * webhook was disabled), so it takes the focus and comes into view, then says so (`onFocused`).
 */
export function Webhooks({ boardId, focus = false, onFocused }: { boardId: string; focus?: boolean; onFocused?: () => void }) {
  const api = useApi();
  const heading = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    if (!focus) return;
    heading.current?.focus();
    heading.current?.scrollIntoView?.({ block: "start" });
    onFocused?.();
  }, [focus, onFocused]);
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [created, setCreated] = useState<NewWebhook | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [deliveries, setDeliveries] = useState<WebhookDelivery[] | null>(null);
  const [deliveriesError, setDeliveriesError] = useState<string | null>(null);

  // Only the latest read of the list is shown (a slow poll must not undo a newer change).
  const loads = useRef(0);
  const load = useCallback(() => {
    const n = ++loads.current;
    api.webhooks.list(boardId).then(
      (list) => { if (n === loads.current) { setHooks(list); setLoadError(null); } },
      (err: unknown) => { if (n === loads.current) setLoadError(errorMessage(err)); },
    );
  }, [api, boardId]);
  useEffect(load, [load]);

  const replaced = (changed: Webhook) => {
    loads.current++;
    setHooks((list) => list?.map((w) => (w.id === changed.id ? changed : w)) ?? list);
  };

  // While a Deliveries view is open, it and the states are read again every few seconds.
  useEffect(() => {
    if (!open) return;
    let reads = 0;
    let stopped = false;
    const refresh = () => {
      const n = ++reads;
      api.webhooks.deliveries(boardId, open).then(
        (items) => { if (!stopped && n === reads) { setDeliveries(items); setDeliveriesError(null); } },
        (err: unknown) => { if (!stopped && n === reads) setDeliveriesError(errorMessage(err)); },
      );
    };
    setDeliveries(null);
    setDeliveriesError(null);
    refresh();
    const timer = setInterval(() => {
      if (document.hidden) return;
      load();
      refresh();
    }, REFRESH_MS);
    return () => { stopped = true; clearInterval(timer); };
  }, [api, boardId, open, load]);

  const create = async (settings: WebhookSettings) => {
    setCreated(null);
    setNote(null);
    setCreated(await api.webhooks.create(boardId, settings));
    load();
  };
  const edit = async (w: Webhook, settings: WebhookSettings) => {
    setNote(null);
    const changed = await api.webhooks.update(boardId, w.id, settings);
    replaced(changed);
    stopEditing();
    setNote(`The webhook to ${changed.url} is saved: the next event is sent with these settings.`);
  };
  // Closing the edit form, or answering the deletion question with Cancel, puts the focus back
  // on the button that opened it (`<webhook id>:edit`, `<webhook id>:delete`).
  const buttons = useRef(new Map<string, HTMLButtonElement>());
  const button = (key: string) => (b: HTMLButtonElement | null) => {
    if (b) buttons.current.set(key, b);
    else buttons.current.delete(key);
  };
  const [refocus, setRefocus] = useState<string | null>(null);
  useEffect(() => {
    if (refocus === null) return;
    buttons.current.get(refocus)?.focus();
    setRefocus(null);
  }, [refocus]);
  const stopEditing = () => {
    setRefocus(`${editing}:edit`);
    setEditing(null);
  };
  const keepWebhook = () => {
    setRefocus(`${confirming}:delete`);
    setConfirming(null);
  };
  const toggle = useAction(async (w: Webhook) => {
    setNote(null);
    remove.reset();
    const changed = await api.webhooks.update(boardId, w.id, { active: !w.active });
    replaced(changed);
    setNote(changed.active ? `The webhook to ${w.url} is enabled again: it goes on from the first event it has not delivered.`
      : `The webhook to ${w.url} is disabled.`);
  });
  const remove = useAction(async (w: Webhook) => {
    setNote(null);
    toggle.reset();
    await api.webhooks.remove(boardId, w.id);
    setConfirming(null);
    if (open === w.id) setOpen(null);
    if (created?.id === w.id) setCreated(null);
    load();
    setNote(`The webhook to ${w.url} was deleted.`);
  });


  return (
    <section className="webhooks" aria-labelledby="webhooks-title">
      <h2 id="webhooks-title" ref={heading} tabIndex={-1}>
        Webhooks
      </h2>
      <p>
        TaskFlow sends this board’s events as they happen (a POST of JSON) to each URL here, signed with the webhook’s
        secret in the <code>webhook-signature</code> header. Only you, the owner, see and manage them.
      </p>
      {created && (
        <div className="card new-token" role="status">
          <p>
            <strong>Copy the signing secret now:</strong> it is not shown again. The receiver checks each request’s
            signature with it.
          </p>
          <TextField label="Signing secret" name="signing_secret" readOnly value={created.secret}
            onFocus={(e) => e.currentTarget.select()} />
          <div className="button-row">
            <button type="button" className="button-secondary" onClick={() => void navigator.clipboard?.writeText(created.secret)}>
              Copy secret
            </button>
            <button type="button" className="button-secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <WebhookForm label="New webhook" submitLabel="Add webhook" pendingLabel="Adding…" onSave={create} clearOnSave />
      <Alert>{loadError ?? toggle.message ?? remove.message}</Alert>
      <Alert kind="success">{note}</Alert>
      {hooks !== null && hooks.length === 0 && <p>No webhooks yet.</p>}
      {hooks !== null && hooks.length > 0 && (
        <ul className="webhook-list" aria-label="Webhooks of this board">
          {hooks.map((w) => (
            <li key={w.id}>
              <p className="webhook-url">{w.url}</p>
              <p className="token-meta">
                Events: {eventsLabel(w.events)} · added <time dateTime={w.created_at}>{when(w.created_at)}</time>
              </p>
              <WebhookStateLine webhook={w} />
              {editing === w.id ? (
                <WebhookForm key="edit" label={`Edit the webhook to ${w.url}`} initial={w} submitLabel="Save" pendingLabel="Saving…"
                  onSave={(settings) => edit(w, settings)} onCancel={stopEditing} />
              ) : confirming === w.id ? (
                // Keyed apart from the buttons it replaces, so it mounts afresh and autoFocus applies
                // (reused in place, its Cancel would only keep whatever focus the old node had).
                <div key="confirm" className="button-row" role="group" aria-label="Confirm webhook deletion">
                  <span>Delete the webhook to {w.url} and its delivery log?</span>
                  <button type="button" className="button-danger" disabled={remove.pending} onClick={() => void remove.run(w)}>
                    Yes, delete webhook
                  </button>
                  {/* Focus moves here, not to the destructive button, when the question appears. */}
                  <button type="button" className="button-secondary" autoFocus onClick={keepWebhook}>
                    Cancel
                  </button>
                </div>
              ) : (
                <div key="actions" className="button-row">
                  <button type="button" className="button-secondary" disabled={toggle.pending} onClick={() => void toggle.run(w)}>
                    {w.active ? "Disable" : "Enable"}
                    <span className="visually-hidden"> the webhook to {w.url}</span>
                  </button>
                  <button type="button" className="button-secondary"
                    ref={button(`${w.id}:edit`)}
                    onClick={() => { setNote(null); setConfirming(null); setEditing(w.id); }}>
                    Edit<span className="visually-hidden"> the webhook to {w.url}</span>
                  </button>
                  <button type="button" className="button-secondary" aria-expanded={open === w.id}
                    aria-controls={`deliveries-${w.id}`} onClick={() => setOpen((o) => (o === w.id ? null : w.id))}>
                    Deliveries<span className="visually-hidden"> of the webhook to {w.url}</span>
                  </button>
                  <button type="button" className="button-danger" ref={button(`${w.id}:delete`)}
                    onClick={() => { remove.reset(); setConfirming(w.id); }}>
                    Delete<span className="visually-hidden"> the webhook to {w.url}</span>
                  </button>
                </div>
              )}
              {open === w.id && (
                <div id={`deliveries-${w.id}`} className="webhook-deliveries">
                  <h3>Last deliveries</h3>
                  <p className="field-hint">Newest first; read again every {REFRESH_MS / 1000} seconds while shown.</p>
                  <Alert>{deliveriesError}</Alert>
                  {deliveries === null && !deliveriesError && <p className="muted">Loading deliveries…</p>}
                  {deliveries !== null && deliveries.length === 0 && (
                    <p className="muted">Nothing sent yet: events logged after the webhook was added are sent here.</p>
                  )}
                  {deliveries !== null && deliveries.length > 0 && (
                    <DeliveryList deliveries={deliveries} label={`Last deliveries to ${w.url}`} />
                  )}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** Active; failing since … (retried, with the next attempt); or disabled, with the server's reason. */
function WebhookStateLine({ webhook }: { webhook: Webhook }) {
  const state = webhookState(webhook);
  if (state.kind === "active") {
    return (
      <p className="webhook-state">
        State: <strong>Active</strong>
      </p>
    );
  }
  if (state.kind === "failing") {
    return (
      <p className="webhook-state webhook-failing">
        State: <strong>Failing</strong> since <time dateTime={state.since}>{when(state.since)}</time>
        {state.nextAttempt && <>; next attempt <time dateTime={state.nextAttempt}>{when(state.nextAttempt)}</time></>}. A
        failed event is retried; if it keeps failing, TaskFlow disables the webhook.
      </p>
    );
  }
  return (
    <div className="alert alert-error webhook-disabled">
      <p>
        State: <strong>Disabled</strong>
        {state.reason ? " by TaskFlow: deliveries kept failing." : "."} Nothing is sent until it is enabled again.
      </p>
      {state.reason && (
        <p>
          Reason: <span className="webhook-reason">{state.reason}</span>
        </p>
      )}
    </div>
  );
}

function DeliveryList({ deliveries, label }: { deliveries: WebhookDelivery[]; label: string }) {
  return (
    <ol className="delivery-list" aria-label={label}>
      {deliveries.map((d) => (
        <li key={d.id} className={`delivery-${d.status}`}>
          <strong className="delivery-status">{d.status === "succeeded" ? "Succeeded" : "Failed"}</strong>{" "}
          <span>{d.response_code === null ? "no response" : `response ${d.response_code}`}</span>{" "}
          <span>{d.duration_ms} ms</span>{" "}
          <span>attempt {d.attempt}</span>{" "}
          <span>
            <code>{d.event_type}</code> (event {d.seq})
          </span>{" "}
          <time dateTime={d.at}>{when(d.at)}</time>
          {d.error && <> <span className="delivery-error">Error: {d.error}</span></>}
        </li>
      ))}
    </ol>
  );
}
