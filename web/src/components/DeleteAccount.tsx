import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError } from "../api/errors";
import { useServices } from "../app/ServicesContext";
import { Alert } from "./Alert";
import { TextField } from "./Field";
import { useAction } from "./useAction";
import { required, useFieldErrors, validate } from "./validation";

/**
 * Deleting the account: with the current password and an explicit "I understand". The server
 * refuses (409 owns_shared_boards) while the account owns boards others use; they are listed
 * here with links, to delete them or remove their members first.
 */
export function DeleteAccount() {
  const { api, tokens } = useServices();
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const [understood, setUnderstood] = useState(false);

  const remove = useAction(async () => {
    await api.auth.deleteMe(password);
    tokens.clear("deleted");
    navigate("/login", { replace: true });
  });

  const wrongPassword = remove.error instanceof ApiError && remove.error.status === 403;
  const sharedBoards = remove.error instanceof ApiError && remove.error.code === "owns_shared_boards"
    ? (remove.error.problem.boards ?? []) : [];
  const errors = useFieldErrors(remove, wrongPassword ? { delete_password: "That is not your current password." } : {});
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (errors.check(e.currentTarget, validate({ delete_password: password }, { delete_password: [required("your current password")] }))) {
      void remove.run();
    }
  };

  return (
    <section className="danger-zone" aria-labelledby="delete-account-title">
      <h2 id="delete-account-title">Delete account</h2>
      <p>
        This can't be undone. Boards you own alone are deleted with everything on them; you leave
        every other board, and your tasks there are unassigned. Every sign-in and API token of yours
        ends at once. What you wrote on others' boards stays, without your name.
      </p>
      {sharedBoards.length > 0 ? (
        <Alert>
          <p>You own boards that others use. Delete them, or remove their other members, first:</p>
          <ul>
            {sharedBoards.map((b) => <li key={b.id}><Link to={`/boards/${encodeURIComponent(b.id)}`}>{b.name}</Link></li>)}
          </ul>
        </Alert>
      ) : (
        <Alert>{wrongPassword ? null : errors.formMessage(["delete_password", "current_password"])}</Alert>
      )}
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Current password" type="password" name="delete_password" autoComplete="current-password"
          value={password} required
          onChange={(e) => { setPassword(e.target.value); errors.edited("delete_password"); }}
          error={errors.errorOf("delete_password") ?? errors.errorOf("current_password")} />
        <label className="checkbox">
          <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} />
          I understand that my account is deleted for good.
        </label>
        <button type="submit" className="button-danger" disabled={!understood || remove.pending}>
          {remove.pending ? "Deleting…" : "Delete my account"}
        </button>
      </form>
    </section>
  );
}
