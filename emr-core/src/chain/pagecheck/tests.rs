use super::*;

#[test]
fn registers() {
    assert_eq!(vfs_name().unwrap(), VFS_NAME);
}
