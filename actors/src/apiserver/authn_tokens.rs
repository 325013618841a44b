//! The static token file (`[apiserver] token_auth_file`), Kubernetes'
//! `--token-auth-file`: one user per line, CSV `token,user,uid,"group1,group2"` (the
//! groups column optional; a quoted field may hold commas; `#` lines and blank lines
//! ignored). A request's `Authorization: Bearer <token>` naming a line is that user,
//! in its groups and `system:authenticated`.
//!
//! The file is read once at start; a malformed line stops the node with the line number
//! rather than leaving someone locked out (or in) silently.

use std::collections::HashMap;
use std::path::Path;

use super::request::UserInfo;

/// The group of every authenticated user.
const AUTHENTICATED: &str = "system:authenticated";

/// The users of a token file, by token.
#[derive(Debug, Default, Clone)]
pub struct TokenFile {
    users: HashMap<String, TokenUser>,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    /// The user.
    pub user: UserInfo,
    /// The user's uid.
    pub uid: String,
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// It cannot be read.
    #[error("cannot read token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {path}, line {line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The fields of one CSV line (double quotes group, `""` is a quote).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut cur).trim().to_owned()),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur.trim().to_owned());
    Ok(out)
}

impl TokenFile {
    /// No users (no file configured).
    pub fn empty() -> TokenFile {
        TokenFile::default()
    }

    /// The users in `text` (the file at `path`, named in errors).
    pub fn parse(path: &str, text: &str) -> Result<TokenFile, TokenFileError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |message: &str| TokenFileError::Line {
                path: path.to_owned(),
                line: i + 1,
                message: message.to_owned(),
            };
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let f = fields(line).map_err(|m| bad(&m))?;
            if f.len() < 3 {
                return Err(bad("want at least 3 columns: token,user,uid"));
            }
            if f[0].is_empty() || f[1].is_empty() {
                return Err(bad("token and user must not be empty"));
            }
            let mut groups: Vec<String> = f
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if !groups.iter().any(|g| g == AUTHENTICATED) {
                groups.push(AUTHENTICATED.to_owned());
            }
            let user = TokenUser {
                user: UserInfo {
                    name: f[1].clone(),
                    uid: f[2].clone(),
                    groups,
                    extra: Default::default(),
                },
                uid: f[2].clone(),
            };
            if users.insert(f[0].clone(), user).is_some() {
                return Err(bad("duplicate token"));
            }
        }
        Ok(TokenFile { users })
    }

    /// The users of the file at `path`.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: shown.clone(),
            source,
        })?;
        TokenFile::parse(&shown, &text)
    }

    /// The user whose token `token` is.
    pub fn user(&self, token: &str) -> Option<&TokenUser> {
        // A map lookup hashes the whole token; no early exit on a shared prefix.
        self.users.get(token)
    }

    /// How many users the file has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_kubernetes_reads_them() {
        let text = "# users\n\
                    t1,alice,u1\n\
                    t2,bob,u2,\"dev,ops\"\n\
                    t3,system:node:n1,u3,system:nodes\n";
        let f = TokenFile::parse("f", text).expect("valid");
        assert_eq!(f.len(), 3);
        let alice = f.user("t1").expect("alice");
        assert_eq!(alice.user.name, "alice");
        assert_eq!(alice.uid, "u1");
        assert_eq!(alice.user.groups, vec!["system:authenticated"]);
        let bob = f.user("t2").expect("bob");
        assert_eq!(bob.user.groups, vec!["dev", "ops", "system:authenticated"]);
        assert_eq!(
            f.user("t3").expect("node").user.groups,
            vec!["system:nodes", "system:authenticated"]
        );
        assert!(f.user("t4").is_none());
        let table = [
            ("short", "t,alice"),
            ("empty user", "t,,u"),
            ("open quote", "t,alice,u,\"dev"),
            ("duplicate", "t,a,u\nt,b,u"),
        ];
        for (name, text) in table {
            let e = TokenFile::parse("f", text).expect_err(name);
            assert!(e.to_string().contains("token file f, line"), "{name}: {e}");
        }
    }
}
