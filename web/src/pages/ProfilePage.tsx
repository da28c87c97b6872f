import { useState, type FormEvent } from "react";
import type { ProfileChanges } from "../api/auth";
import { ApiError } from "../api/errors";
import { useMe, useServices } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { ApiTokens } from "../components/ApiTokens";
import { DeleteAccount } from "../components/DeleteAccount";
import { TextField } from "../components/Field";
import { useAction } from "../components/useAction";
import { usePageTitle } from "../components/usePageTitle";
import { email as emailCheck, maxLength, minLength, required, useFieldErrors, validate, type Check } from "../components/validation";

const FIELDS = ["name", "email", "password", "current_password"] as const;

export default function ProfilePage() {
  usePageTitle("Profile");
  const { api, tokens } = useServices();
  const me = useMe();
  const [name, setName] = useState(me.name);
  const [email, setEmail] = useState(me.email);
  const [password, setPassword] = useState("");
  const [currentPassword, setCurrentPassword] = useState("");
  const [saved, setSaved] = useState<string | null>(null);

  const needsCurrent = email.trim() !== me.email || password !== "";
  const save = useAction(async () => {
    setSaved(null);
    const changes: ProfileChanges = {};
    if (name.trim() !== me.name) changes.name = name.trim();
    if (email.trim() !== me.email) changes.email = email.trim();
    if (password) changes.password = password;
    if (Object.keys(changes).length === 0) {
      setSaved("Nothing to save.");
      return;
    }
    // Sent only when typed: without it the server's 422 names the field that is missing.
    if (needsCurrent && currentPassword) changes.current_password = currentPassword;
    const user = await api.auth.updateMe(changes);
    tokens.setUser(user);
    if (changes.password) {
      // A new password revokes every login, this one included: sign in again with it.
      tokens.setSession(await api.auth.login({ email: user.email, password: changes.password }));
    }
    setPassword("");
    setCurrentPassword("");
    setSaved("Profile saved.");
  });

  // 403 here means the current password was wrong: show it at that field.
  const wrongCurrent = save.error instanceof ApiError && save.error.status === 403;

  const errors = useFieldErrors(save, wrongCurrent ? { current_password: "That is not your current password." } : {});
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const checks: Record<string, Check[]> = { name: [required("your name"), maxLength(100)], email: [emailCheck] };
    if (password) checks.password = [minLength(8)];
    if (needsCurrent) checks.current_password = [required("your current password to change your email or password")];
    if (errors.check(e.currentTarget, validate({ name, email, password, current_password: currentPassword }, checks))) {
      void save.run();
    }
  };

  return (
    <section className="narrow" aria-labelledby="profile-title">
      <h1 id="profile-title">Profile</h1>
      <Alert>{wrongCurrent ? null : errors.formMessage(FIELDS)}</Alert>
      <Alert kind="success">{saved}</Alert>
      <form onSubmit={onSubmit} noValidate aria-label="Your profile">
        <TextField label="Name" name="name" autoComplete="name" value={name}
          onChange={(e) => { setName(e.target.value); errors.edited("name"); }} error={errors.errorOf("name")} />
        <TextField label="Email" type="email" name="email" autoComplete="email" value={email}
          onChange={(e) => { setEmail(e.target.value); errors.edited("email"); }} error={errors.errorOf("email")} />
        <TextField label="New password" type="password" name="password" autoComplete="new-password"
          hint="Leave empty to keep your password. Changing it signs out your other sessions and revokes your API tokens." value={password}
          onChange={(e) => { setPassword(e.target.value); errors.edited("password"); }} error={errors.errorOf("password")} />
        <TextField label="Current password" type="password" name="current_password" autoComplete="current-password"
          hint="Required to change your email or password." required={needsCurrent} value={currentPassword}
          onChange={(e) => { setCurrentPassword(e.target.value); errors.edited("current_password"); }} error={errors.errorOf("current_password")} />
        <button type="submit" disabled={save.pending}>
          {save.pending ? "Saving…" : "Save profile"}
        </button>
      </form>
      <ApiTokens />
      <DeleteAccount />
    </section>
  );
}
