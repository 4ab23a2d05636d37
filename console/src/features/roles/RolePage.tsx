// One role: edit its name, description, default flag and provider group; choose its permissions; delete it.
// Without roles:write the same page is read-only.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";

import { useCan } from "../../app/permissions";
import { ConfirmButton } from "../../components/ConfirmButton";
import { Field } from "../../components/Field";
import { formatTime } from "../../components/format";
import { fieldErrors, ProblemMessage } from "../../components/Problem";
import { permissionNamesQuery, roleQuery, useDeleteRole, useSetRolePermissions, useUpdateRole, type Role, type UpdateRole } from "./api";

export function RolePage() {
  const { id = "" } = useParams();
  const can = useCan();
  const role = useQuery(roleQuery(id));

  return (
    <>
      <p>
        <Link to="/roles">← All roles</Link>
      </p>
      <ProblemMessage error={role.error} />
      {role.data && (
        <>
          <h1>
            Role {role.data.name} {role.data.built_in && <span className="badge">built-in</span>}
          </h1>
          <p className="meta">
            Created {formatTime(role.data.created_at)}, changed {formatTime(role.data.updated_at)}
          </p>
          {can("roles:write") ? (
            <>
              {/* Keyed by the saved version, so the form starts again from what the server holds. */}
              <EditRoleForm key={role.data.updated_at} role={role.data} />
              <RolePermissionsForm key={`p-${role.data.updated_at}`} role={role.data} />
              {!role.data.built_in && <DeleteRole role={role.data} />}
            </>
          ) : (
            <RoleSummary role={role.data} />
          )}
        </>
      )}
    </>
  );
}

function RoleSummary({ role }: { role: Role }) {
  return (
    <dl>
      <dt>Description</dt>
      <dd>{role.description || "—"}</dd>
      <dt>Default</dt>
      <dd>{role.is_default ? "yes" : "no"}</dd>
      <dt>Provider group</dt>
      <dd>{role.idp_group ?? "—"}</dd>
      <dt>Permissions</dt>
      <dd>{role.permissions.join(", ") || "none"}</dd>
    </dl>
  );
}

function EditRoleForm({ role }: { role: Role }) {
  const update = useUpdateRole(role.id);
  const [name, setName] = useState(role.name);
  const [description, setDescription] = useState(role.description);
  const [isDefault, setIsDefault] = useState(role.is_default);
  const [idpGroup, setIdpGroup] = useState(role.idp_group ?? "");
  const errors = fieldErrors(update.error);

  function submit(event: FormEvent) {
    event.preventDefault();
    // Only what changed: a built-in role refuses any rename, even to its own name.
    const body: UpdateRole = {};
    if (name.trim() !== role.name) body.name = name.trim();
    if (description !== role.description) body.description = description;
    if (isDefault !== role.is_default) body.is_default = isDefault;
    const group = idpGroup.trim();
    if (group !== (role.idp_group ?? "")) body.idp_group = group === "" ? null : group; // null removes the mapping
    update.mutate(body);
  }

  return (
    <section aria-labelledby="edit-role">
      <h2 id="edit-role">Details</h2>
      <form onSubmit={submit} className="form" data-testid="edit-role-form">
        <Field label="Name" name="name" errors={errors} hint={role.built_in ? "Built-in roles cannot be renamed." : undefined}>
          <input value={name} onChange={(e) => setName(e.target.value)} readOnly={role.built_in} required autoComplete="off" />
        </Field>
        <Field label="Description" name="description" errors={errors}>
          <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Provider group" name="idp_group" errors={errors} hint="Empty removes the mapping.">
          <input value={idpGroup} onChange={(e) => setIdpGroup(e.target.value)} autoComplete="off" />
        </Field>
        <div className="check">
          <input id="edit-role-default" type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.target.checked)} />
          <label htmlFor="edit-role-default">Default role (granted to every user at first login)</label>
        </div>
        <ProblemMessage error={update.error} shownFields={["name", "description", "idp_group"]} />
        {update.isSuccess && <p role="status">Saved.</p>}
        <button type="submit" className="primary" disabled={update.isPending}>
          Save details
        </button>
      </form>
    </section>
  );
}

function RolePermissionsForm({ role }: { role: Role }) {
  const all = useQuery(permissionNamesQuery);
  const save = useSetRolePermissions(role.id);
  const [chosen, setChosen] = useState(() => new Set(role.permissions));

  function toggle(name: string, on: boolean) {
    const next = new Set(chosen);
    if (on) next.add(name);
    else next.delete(name);
    setChosen(next);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate([...chosen].sort());
  }

  return (
    <section aria-labelledby="role-permissions">
      <h2 id="role-permissions">Permissions</h2>
      <ProblemMessage error={all.error} />
      {all.data && (
        <form onSubmit={submit} className="form" data-testid="role-permissions-form">
          <fieldset>
            <legend>Permissions this role grants</legend>
            <div className="checks">
              {all.data.map((name) => (
                <div className="check" key={name}>
                  <input id={`perm-${name}`} type="checkbox" checked={chosen.has(name)} onChange={(e) => toggle(name, e.target.checked)} />
                  <label htmlFor={`perm-${name}`}>
                    <code>{name}</code>
                  </label>
                </div>
              ))}
            </div>
          </fieldset>
          <ProblemMessage error={save.error} />
          {save.isSuccess && <p role="status">Permissions saved.</p>}
          <button type="submit" className="primary" disabled={save.isPending}>
            Save permissions
          </button>
        </form>
      )}
    </section>
  );
}

function DeleteRole({ role }: { role: Role }) {
  const remove = useDeleteRole();
  const navigate = useNavigate();

  return (
    <section aria-labelledby="delete-role">
      <h2 id="delete-role">Delete</h2>
      <p>Deleting the role takes it from every user who holds it.</p>
      <ProblemMessage error={remove.error} />
      <ConfirmButton
        label={`Delete role ${role.name}`}
        question={`Delete ${role.name} for everyone?`}
        onConfirm={() => remove.mutate(role.id, { onSuccess: () => navigate("/roles") })}
        disabled={remove.isPending}
      />
    </section>
  );
}
