//! The admin console at `/console/`: the single-page app's built files from `KEYWARD_CONSOLE_DIR`. Paths that
//! name no file are the app's own routes and get `index.html`; hashed assets are cached for a year, `index.html`
//! never (it names the current assets). `/` sends browsers to the console, so logout lands on a page.

use std::path::{Path, PathBuf};

use poem::{
    Endpoint, Request, Response,
    http::{StatusCode, header},
};

use crate::error::{Problem, ProblemType};

/// Where the console is mounted.
pub const PREFIX: &str = "/console";

/// Vite puts content-hashed files here: a changed file gets a new name, so old names may be cached forever.
const ASSETS: &str = "assets/";

/// Serves the console from `dir`; answers a 404 problem saying how to build it while `dir` has no `index.html`.
pub struct Console {
    dir: PathBuf,
}

impl Console {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Whether the built console is there (checked per request: a build may land while Keyward runs).
    pub fn is_built(dir: &Path) -> bool {
        dir.join("index.html").is_file()
    }

    async fn answer(&self, path: &str) -> Response {
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return not_found("no such page");
        };
        // `/console` itself: the app's relative URLs need the trailing slash.
        if rest.is_empty() {
            return redirect("/console/");
        }
        let rest = rest.trim_start_matches('/');
        if !Self::is_built(&self.dir) {
            return not_found(&format!(
                "the console is not built: run `npm ci && npm run build` in console/ (it is looked for in {}; \
                 KEYWARD_CONSOLE_DIR names another folder)",
                self.dir.display()
            ));
        }
        if let Some(file) = safe_relative(rest).map(|p| self.dir.join(p))
            && let Ok(bytes) = tokio::fs::read(&file).await
        {
            let cache = if rest.starts_with(ASSETS) {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            return Response::builder()
                .content_type(content_type(&file))
                .header(header::CACHE_CONTROL, cache)
                .body(bytes);
        }
        // A missing asset is a 404: answering index.html would hand HTML to a <script> tag.
        if rest.starts_with(ASSETS) || rest.rsplit('/').next().is_some_and(|f| f.contains('.')) {
            return not_found("no such file in the console");
        }
        match tokio::fs::read(self.dir.join("index.html")).await {
            Ok(bytes) => Response::builder()
                .content_type("text/html; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(bytes),
            Err(_) => not_found("the console's index.html cannot be read"),
        }
    }
}

impl Endpoint for Console {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        Ok(self.answer(req.original_uri().path()).await)
    }
}

/// `/` → the console when it is served; otherwise there is nothing at `/`.
pub fn root(console_dir: Option<&Path>) -> Response {
    match console_dir {
        Some(dir) if Console::is_built(dir) => redirect("/console/"),
        _ => not_found("nothing here: the API is under /api/v1, its documentation at /docs"),
    }
}

/// The path inside the console folder, or `None` for anything that could leave it.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." || segment.contains(['\\', '\0', ':']) {
            return None;
        }
        path.push(segment);
    }
    (!path.as_os_str().is_empty()).then_some(path)
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, to)
        .finish()
}

fn not_found(detail: &str) -> Response {
    Problem::new(ProblemType::NotFound, detail).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_are_refused() {
        assert_eq!(
            safe_relative("assets/a.js"),
            Some(PathBuf::from("assets/a.js"))
        );
        assert_eq!(safe_relative("../secret"), None);
        assert_eq!(safe_relative("a/../../b"), None);
        assert_eq!(safe_relative("a\\..\\b"), None);
        assert_eq!(safe_relative("C:/x"), None);
        assert_eq!(safe_relative(""), None);
    }
}
