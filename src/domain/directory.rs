//! A person in the staff directory: who a sender or caller is.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub department: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}
