//! A browser as far as the console's sign-in is concerned: keeps cookies (by name; paths are
//! not scoped), follows no redirects (tests look at them), fills in the sign-in form.

use std::collections::BTreeMap;

pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// The value of the hidden `csrf` field of a page's form.
pub fn csrf_field(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: base.to_owned(), client, cookies: BTreeMap::new() }
    }

    pub fn session(&self) -> Option<String> {
        self.cookies.get("madoguchi_session").cloned()
    }

    /// A request with the browser's cookies; send it with [`Browser::send`] to keep new ones.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        if self.cookies.is_empty() {
            return r;
        }
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        r.header(reqwest::header::COOKIE, jar.join("; "))
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.send().await.expect("request sent");
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        response
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let r = self.request(reqwest::Method::GET, path);
        self.send(r).await
    }

    /// Opens `/login` and returns the form's CSRF token.
    pub async fn open_login(&mut self) -> String {
        let page = self.get("/login").await;
        assert_eq!(page.status(), 200);
        csrf_field(&page.text().await.unwrap()).expect("the sign-in form has a csrf field")
    }

    /// Posts the sign-in form (opened first) with `next`.
    pub async fn sign_in_to(&mut self, login: &str, password: &str, next: &str) -> reqwest::Response {
        let token = self.open_login().await;
        let form = [("login", login), ("password", password), ("next", next), ("csrf", &token)];
        let r = self.request(reqwest::Method::POST, "/login").form(&form);
        self.send(r).await
    }

    pub async fn sign_in(&mut self, login: &str, password: &str) -> reqwest::Response {
        self.sign_in_to(login, password, "/").await
    }

    /// The session's CSRF token, as the console's script asks for it.
    pub async fn csrf(&mut self) -> String {
        let r = self.get("/api/session").await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["csrf"].as_str().expect("a session has a CSRF token").to_owned()
    }
}
