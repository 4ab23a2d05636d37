// Roles: the list, and a form to create one (for those with roles:write).
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";

import { useCan } from "../../app/permissions";
import { Field } from "../../components/Field";
import { Pager } from "../../components/Pager";
import { TableWrap } from "../../components/TableWrap";
import { fieldErrors, ProblemMessage } from "../../components/Problem";
import { rolesQuery, useCreateRole } from "./api";

export function RolesPage() {
  const can = useCan();
  const [page, setPage] = useState(1);
  const roles = useQuery(rolesQuery(page));

  return (
    <>
      <h1>Roles</h1>
      <ProblemMessage error={roles.error} />
      {roles.data && (
        <>
          <TableWrap label="Roles">
            <table data-testid="roles-table">
              <caption className="visually-hidden">Roles</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col">Default</th>
                  <th scope="col">Provider group</th>
                  <th scope="col">Permissions</th>
                </tr>
              </thead>
              <tbody>
                {roles.data.items.map((role) => (
                  <tr key={role.id}>
                    <td>
                      <Link to={`/roles/${role.id}`}>{role.name}</Link>
                      {role.built_in && <span className="badge">built-in</span>}
                    </td>
                    <td>{role.description}</td>
                    <td>{role.is_default ? "yes" : "no"}</td>
                    <td>{role.idp_group ?? "—"}</td>
                    <td>{role.permissions.length}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={page} perPage={roles.data.per_page} total={roles.data.total} onPage={setPage} />
        </>
      )}
      {can("roles:write") && <CreateRoleForm />}
    </>
  );
}

function CreateRoleForm() {
  const create = useCreateRole();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [isDefault, setIsDefault] = useState(false);
  const [idpGroup, setIdpGroup] = useState("");
  const errors = fieldErrors(create.error);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      { name: name.trim(), description, is_default: isDefault, ...(idpGroup.trim() && { idp_group: idpGroup.trim() }) },
      {
        onSuccess: () => {
          setName("");
          setDescription("");
          setIsDefault(false);
          setIdpGroup("");
        },
      },
    );
  }

  return (
    <section aria-labelledby="create-role">
      <h2 id="create-role">Create a role</h2>
      <form onSubmit={submit} className="form" data-testid="create-role-form">
        <Field label="Name" name="name" errors={errors} hint="Lower case: letters, digits, - and _, e.g. billing-admin.">
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
        </Field>
        <Field label="Description" name="description" errors={errors}>
          <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Provider group" name="idp_group" errors={errors} hint="Members of this provider group hold the role. Optional.">
          <input value={idpGroup} onChange={(e) => setIdpGroup(e.target.value)} autoComplete="off" />
        </Field>
        <div className="check">
          <input id="create-role-default" type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.target.checked)} />
          <label htmlFor="create-role-default">Default role (granted to every user at first login)</label>
        </div>
        <ProblemMessage error={create.error} shownFields={["name", "description", "idp_group"]} />
        {create.isSuccess && <p role="status">Role {create.data.name} created.</p>}
        <button type="submit" className="primary" disabled={create.isPending}>
          Create role
        </button>
      </form>
    </section>
  );
}
