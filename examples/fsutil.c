/* Directory helpers for checkpoint writing. */
#define _XOPEN_SOURCE 700
#include "fsutil.h"

#include "tg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return tg_error(TG_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return tg_error(TG_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return tg_error(TG_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode))
        return tg_error(TG_ERR_IO, "%s: exists and is not a directory", buf);
    return TG_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int fs_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return TG_OK;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
        return tg_error(TG_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return TG_OK;
}

int fs_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return tg_error(TG_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc ? tg_error(TG_ERR_IO, "%s: fsync failed: %s", path, strerror(errno)) : TG_OK;
}

int fs_dir_nonempty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n > 0;
}
