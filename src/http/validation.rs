//! `validator`'s errors as the problem's `errors: [{field, message}]`.

use crate::error::{ApiError, FieldError};

impl From<validator::ValidationErrors> for ApiError {
    fn from(errs: validator::ValidationErrors) -> Self {
        Self::validation(field_errors(&errs))
    }
}

/// Flattens `validator`'s nested errors into `{field, message}` pairs with dotted paths.
pub fn field_errors(errs: &validator::ValidationErrors) -> Vec<FieldError> {
    fn walk(prefix: &str, errs: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
        use validator::ValidationErrorsKind as Kind;
        for (field, kind) in errs.errors() {
            let path = if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            };
            match kind {
                Kind::Field(list) => out.extend(list.iter().map(|e| {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("failed the `{}` rule", e.code));
                    FieldError::new(path.clone(), message)
                })),
                Kind::Struct(inner) => walk(&path, inner, out),
                Kind::List(items) => {
                    for (i, inner) in items {
                        walk(&format!("{path}[{i}]"), inner, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", errs, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_errors_become_dotted_field_errors() {
        use validator::Validate;
        #[derive(Validate)]
        struct Body {
            #[validate(email(message = "must be an email address"))]
            email: String,
            #[validate(length(min = 2))]
            name: String,
        }
        let errs = Body {
            email: "nope".into(),
            name: "x".into(),
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            field_errors(&errs),
            vec![
                FieldError::new("email", "must be an email address"),
                FieldError::new("name", "failed the `length` rule"),
            ]
        );
    }
}
