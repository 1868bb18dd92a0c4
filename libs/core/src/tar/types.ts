/** One member of a tar archive, as {@link readTar} returns it and {@link writeTar} takes it. */
export interface TarEntry {
  /** Path as stored in the archive (readTar does not normalize it; checkPolicy judges it). */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo' | 'other';
  /** Permission bits including setuid/setgid/sticky (0o7777 range). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** Content length for regular files, 0 for everything else. */
  size: number;
  /** Target of a symlink (verbatim) or hardlink (path of an earlier member). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Content of a regular file. From readTar it is a view into the (decompressed) input. */
  data?: Buffer;
}

/** Caps applied while reading an untrusted archive; exceeding one is `TAR_UNSAFE`. */
export interface TarLimits {
  /** Largest single member, bytes. */
  maxEntrySize: number;
  /** Sum of all member sizes, bytes. */
  maxTotalSize: number;
  maxEntries: number;
  /** Largest gzip expansion factor (decompressed / compressed) once past 1 MiB of output. */
  maxRatio: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = {
  maxEntrySize: 1024 ** 3,
  maxTotalSize: 4 * 1024 ** 3,
  maxEntries: 200_000,
  maxRatio: 200,
};

/** What {@link checkPolicy} may let through, and how to name the archive in messages. */
export interface TarPolicy {
  /** Allow setuid/setgid bits (only for fragments whose publisher is trusted with them). */
  allowSetuid?: boolean;
  /** Prefix for messages, e.g. `fragment libpng@1.6.43`. */
  label?: string;
}
