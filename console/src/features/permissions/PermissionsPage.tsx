// Permissions (`resource:action`): the list, and for roles:write, create and delete. Built-in ones stay.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";

import { useCan } from "../../app/permissions";
import { ConfirmButton } from "../../components/ConfirmButton";
import { Field } from "../../components/Field";
import { Pager } from "../../components/Pager";
import { TableWrap } from "../../components/TableWrap";
import { fieldErrors, ProblemMessage } from "../../components/Problem";
import { permissionsQuery, useCreatePermission, useDeletePermission } from "./api";

export function PermissionsPage() {
  const can = useCan();
  const [page, setPage] = useState(1);
  const permissions = useQuery(permissionsQuery(page));
  const remove = useDeletePermission();

  return (
    <>
      <h1>Permissions</h1>
      <ProblemMessage error={permissions.error} />
      <ProblemMessage error={remove.error} />
      {permissions.data && (
        <>
          <TableWrap label="Permissions">
            <table data-testid="permissions-table">
              <caption className="visually-hidden">Permissions</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  {can("roles:write") && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {permissions.data.items.map((permission) => (
                  <tr key={permission.id}>
                    <td>
                      <code>{permission.name}</code>
                      {permission.built_in && <span className="badge">built-in</span>}
                    </td>
                    <td>{permission.description}</td>
                    {can("roles:write") && (
                      <td>
                        {!permission.built_in && (
                          <ConfirmButton
                            label={`Delete ${permission.name}`}
                            question={`Take ${permission.name} from every role?`}
                            onConfirm={() => remove.mutate(permission.id)}
                            disabled={remove.isPending}
                          />
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={page} perPage={permissions.data.per_page} total={permissions.data.total} onPage={setPage} />
        </>
      )}
      {can("roles:write") && <CreatePermissionForm />}
    </>
  );
}

function CreatePermissionForm() {
  const create = useCreatePermission();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const errors = fieldErrors(create.error);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      { name: name.trim(), description },
      {
        onSuccess: () => {
          setName("");
          setDescription("");
        },
      },
    );
  }

  return (
    <section aria-labelledby="create-permission">
      <h2 id="create-permission">Create a permission</h2>
      <form onSubmit={submit} className="form" data-testid="create-permission-form">
        <Field label="Name" name="name" errors={errors} hint="resource:action, e.g. invoices:approve">
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
        </Field>
        <Field label="Description" name="description" errors={errors}>
          <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
        </Field>
        <ProblemMessage error={create.error} shownFields={["name", "description"]} />
        {create.isSuccess && <p role="status">Permission {create.data.name} created.</p>}
        <button type="submit" className="primary" disabled={create.isPending}>
          Create permission
        </button>
      </form>
    </section>
  );
}
