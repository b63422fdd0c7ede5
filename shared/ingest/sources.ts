import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** One pull-log file or object. `key` identifies this exact content: a changed file gets a new key. */
export interface LogFile {
  key: string;
  name: string;
  /** When the file or object was last written (orders bouncer snapshots). */
  modified_at: string;
  open(): Promise<Readable>;
}

export interface LogSource {
  describe(): string;
  list(): Promise<LogFile[]>;
}

/** A local directory, read recursively (the local runner's source). A missing directory holds no files. */
export class DirectorySource implements LogSource {
  constructor(readonly dir: string) {}

  describe(): string {
    return this.dir;
  }

  async list(): Promise<LogFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const files: LogFile[] = [];
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => null);
      if (!info?.isFile() || name.split(/[\\/]/).some((part) => part.startsWith('.'))) continue;
      const rel = relative(this.dir, path);
      files.push({
        key: `dir:${rel}:${info.size}:${Math.floor(info.mtimeMs)}`,
        name: rel,
        modified_at: info.mtime.toISOString(),
        open: async () => createReadStream(path),
      });
    }
    return files;
  }
}

/** Objects under a prefix of an S3 bucket (the Lambda's source). The ETag pins the content. */
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
        const key = object.Key;
        files.push({
          key: `s3:${this.bucket}/${key}:${(object.ETag ?? '').replaceAll('"', '')}`,
          name: key,
          modified_at: (object.LastModified ?? new Date(0)).toISOString(),
          open: async () => {
            const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
            if (!Body) throw new Error(`s3://${this.bucket}/${key} has no body`);
            return Body as Readable;
          },
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return files;
  }
}
