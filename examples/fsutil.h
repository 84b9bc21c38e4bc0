/* Directory helpers for checkpoint writing. */
#ifndef FSUTIL_H
#define FSUTIL_H

/* mkdir -p. Returns TG_OK or TG_ERR_IO naming the path. */
int fs_mkdirs(const char *path);
/* rm -rf of a directory tree (no error if absent). Returns a status. */
int fs_remove_tree(const char *path);
/* fsync of a directory, so a rename inside it is durable. */
int fs_sync_dir(const char *path);
/* 1 if path is a directory with entries, 0 if empty or absent. */
int fs_dir_nonempty(const char *path);

#endif
