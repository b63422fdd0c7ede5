import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isSnapshot } from '../pulls/lapi.ts';

/** One pull-log file or object. `key` identifies this exact content: a changed file gets a new key. */
export interface LogFile {
  key: string;
  name: string;
  /** When the file or object was last written (orders bouncer snapshots). */
  modified_at: string;
  open(): Promise<Readable>;
}

/** Why an entry of the log directory was not read. */
export type RefusalReason = 'symlink' | 'not_a_regular_file' | 'loop' | 'unreadable_dir';

/** An entry of the log directory that was not read, and why (shown in the ingest report). */
export interface RefusedEntry {
  name: string;
  reason: RefusalReason;
}

export interface LogSource {
  describe(): string;
  list(): Promise<LogFile[]>;
  /** The listing with what was left out and why; sources that refuse nothing need not have it. */
  scan?(): Promise<{ files: LogFile[]; refused: RefusedEntry[] }>;
}

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fsConstants;

/**
 * A local directory, read recursively (the local runner's source). A missing directory holds no files.
 *
 * The directory is a trust boundary: nothing outside it is ever opened. Symbolic links inside it are never
 * followed, neither to files nor to directories, and are reported as refused. We chose this over resolving
 * real paths and checking containment because it is one rule with no path arithmetic, it makes loops
 * impossible by construction, and a link that points inside today can be re-pointed outside between the
 * check and the read. An operator who keeps logs elsewhere points PULLWATCH_LOG_DIR there (the directory
 * itself may be a link: it is configuration, not content) or bind-mounts it. FIFOs, sockets and devices are
 * refused from `lstat`, which never blocks; a directory reached twice (a bind mount of a parent) is refused
 * as a loop. Each file is opened with O_NOFOLLOW and checked to be the very inode that was listed, so a link
 * or FIFO swapped in after the listing is not read either.
 */
export class DirectorySource implements LogSource {
  constructor(readonly dir: string) {}

  describe(): string {
    return this.dir;
  }

  async list(): Promise<LogFile[]> {
    return (await this.scan()).files;
  }

  async scan(): Promise<{ files: LogFile[]; refused: RefusedEntry[] }> {
    const files: LogFile[] = [];
    const refused: RefusedEntry[] = [];
    let root: Stats;
    try {
      root = await stat(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { files, refused };
      throw error;
    }
    const visited = new Set([`${root.dev}:${root.ino}`]);
    const walk = async (rel: string): Promise<void> => {
      let entries: string[];
      try {
        entries = (await readdir(join(this.dir, rel))).sort();
      } catch (error) {
        if (rel === '') throw error;
        refused.push({ name: rel, reason: 'unreadable_dir' });
        return;
      }
      for (const entry of entries) {
        // Hidden files and directories (editors' swap files, .git) are not logs and are not reported.
        if (entry.startsWith('.')) continue;
        const name = rel === '' ? entry : join(rel, entry);
        const path = join(this.dir, name);
        const info = await lstat(path).catch(() => null);
        if (info === null) continue; // removed since the listing
        if (info.isSymbolicLink()) refused.push({ name, reason: 'symlink' });
        else if (info.isDirectory()) {
          const id = `${info.dev}:${info.ino}`;
          if (visited.has(id)) refused.push({ name, reason: 'loop' });
          else {
            visited.add(id);
            await walk(name);
          }
        } else if (!info.isFile()) refused.push({ name, reason: 'not_a_regular_file' });
        else {
          files.push({
            key: `dir:${name}:${info.size}:${Math.floor(info.mtimeMs)}`,
            name,
            modified_at: info.mtime.toISOString(),
            open: () => openListed(path, info),
          });
        }
      }
    };
    await walk('');
    return { files, refused };
  }
}

/**
 * Opens the file that was listed, or fails: O_NOFOLLOW refuses a link swapped in for the file, O_NONBLOCK
 * keeps a FIFO swapped in from blocking the open, and the inode check catches anything else swapped in
 * (including a parent directory replaced by a link). A failed open is an unreadable file, retried next run.
 */
async function openListed(path: string, listed: Stats): Promise<Readable> {
  const handle = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.dev !== listed.dev || info.ino !== listed.ino) {
      throw new Error(`${path} changed after it was listed; not read`);
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle.createReadStream();
}

/** Objects under a prefix of an S3 bucket (the Lambda's source). The ETag pins the content (see `list`). */
export class S3Source implements LogSource {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {}

  describe(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async list(): Promise<LogFile[]> {
    const files: LogFile[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/')) continue;
        files.push(s3LogFile(this.client, this.bucket, object.Key, object.ETag ?? '', object.LastModified));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return files;
  }
}

/**
 * One object as a LogFile, keyed as the listing keys it, whichever path found it (the scheduled listing or an
 * S3 event): both then claim the same ledger entry, so an object is read once whoever sees it first.
 */
function s3LogFile(
  client: S3Client,
  bucket: string,
  key: string,
  etag: string,
  lastModified?: Date,
): LogFile {
  const modified = (lastModified ?? new Date(0)).toISOString();
  // A bouncer list is printed again every few minutes, often byte for byte (every bouncer silent): each
  // print is news (the engine is alive, the bouncers still listed), so it is keyed by its time too, as a
  // local file is by its mtime. A log object's content alone says what it teaches.
  const version = isSnapshot(key) ? `${etag}@${modified}` : etag;
  return {
    key: `s3:${bucket}/${key}:${version.replaceAll('"', '')}`,
    name: key,
    modified_at: modified,
    open: async () => {
      const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return Body as Readable;
    },
  };
}

/** An object named by an S3 event: its key (decoded) and, for a log, the ETag the event carries. */
export interface S3ObjectRef {
  key: string;
  etag?: string;
}

/**
 * Exactly the objects an S3 event named (the fan-out's ingest worker), under the same prefix rule and with
 * the same ledger keys as `S3Source`. A log object is keyed by the event's ETag. A bouncer list also needs its
 * LastModified, which the event does not carry (its eventTime is not the same instant), so it is read with
 * HeadObject; an object deleted since the event is left out.
 */
export class S3ObjectsSource implements LogSource {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    readonly objects: S3ObjectRef[],
  ) {}

  describe(): string {
    return `s3://${this.bucket}/${this.prefix} (${this.objects.length} from an event)`;
  }

  private listed: Promise<LogFile[]> | null = null;

  /** Read once: the HeadObject answers are kept, so asking again (to check the ledger after) costs nothing. */
  list(): Promise<LogFile[]> {
    this.listed ??= this.head();
    return this.listed;
  }

  private async head(): Promise<LogFile[]> {
    const files: LogFile[] = [];
    for (const { key, etag } of this.objects) {
      if (!key.startsWith(this.prefix) || key.endsWith('/')) continue;
      if (etag !== undefined && !isSnapshot(key)) {
        files.push(s3LogFile(this.client, this.bucket, key, etag));
        continue;
      }
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        files.push(s3LogFile(this.client, this.bucket, key, head.ETag ?? '', head.LastModified));
      } catch (error) {
        if ((error as { name?: string }).name === 'NotFound') continue;
        throw error;
      }
    }
    return files;
  }
}
