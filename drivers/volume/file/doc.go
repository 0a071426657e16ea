// Package file is a volume driver, registered as "file", that keeps each
// volume as a sparse file on the host. It is Linux-only: on other systems the
// name is registered but opening it fails.
//
// A volume of N GiB is the file <DataDir>/<id>.img, made sparse at its full
// size (truncate), so it takes room only as it is written. Create writes it
// under a temporary name and renames it into place, so a volume is either
// whole or absent. Open removes the temporary files a crash left behind.
//
// Attach makes a volume visible to an instance with a symbolic link at the
// mountpoint, pointing at the volume's file: the compute service passes
// <compute state dir>/instances/<uuid>/volumes/<volume id> (the process
// compute driver's instance directory), so the instance's process finds its
// volume at volumes/<volume id> in its working directory. The link is made
// on the host the volume service runs on, so that service must run on the
// instance's host (or share its file system): the directory that holds the
// volumes directory (the instance's) must exist there, and Attach creates
// only the volumes directory itself. Attach never replaces what it did not
// make: a mountpoint that is anything but a link to this volume fails with
// volume.ErrBusy. Detach removes the link only when it points at the volume.
//
// Only one driver at a time may use a DataDir: Open takes an exclusive lock
// on <DataDir>/lock.
//
// Options (volume.Config.Options):
//
//	mount_root  when set, an absolute directory that every mountpoint must
//	            lie under once symbolic links are resolved, e.g. the compute
//	            state directory; unset, any absolute path is accepted
//
// Capacity is the size and the free space (for unprivileged users) of the
// file system holding DataDir; a volume's AllocatedBytes is the room its
// file takes on disk.
package file
