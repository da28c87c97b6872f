import type { ApiClient } from "./client";
import type { Attachment, DirectUpload, ListPage, UploadOptions } from "./types";

const base = (taskId: string) => `/tasks/${encodeURIComponent(taskId)}/attachments`;

/** Files on tasks: list, upload (through the API, or straight to S3 when offered), download, delete. */
export function attachmentsApi(client: ApiClient) {
  return {
    list: async (taskId: string): Promise<Attachment[]> =>
      (await client.get<ListPage<Attachment>>(base(taskId))).items,
    options: (taskId: string) => client.get<UploadOptions>(`${base(taskId)}/uploads`),
    /** Uploads one file; `direct` sends the bytes to S3 with a presigned form, then confirms. */
    upload: async (
      taskId: string,
      file: File,
      { direct, onProgress, signal }: { direct: boolean; onProgress?: (loaded: number, total: number) => void; signal?: AbortSignal },
    ): Promise<Attachment> => {
      if (direct) {
        const start = await client.post<DirectUpload>(`${base(taskId)}/uploads`, {
          filename: file.name,
          content_type: file.type || "application/octet-stream",
          size: file.size,
        });
        const form = new FormData();
        for (const [name, value] of Object.entries(start.upload.fields)) form.append(name, value);
        form.append("file", file); // S3 wants the file last
        await client.upload(start.upload.url, form, { onProgress, signal });
        return client.post<Attachment>(`${base(taskId)}/${encodeURIComponent(start.attachment_id)}/complete`);
      }
      const form = new FormData();
      form.append("file", file);
      const created = await client.upload<Attachment>(base(taskId), form, { onProgress, signal });
      return created as Attachment;
    },
    download: (taskId: string, id: string) => client.blob(`${base(taskId)}/${encodeURIComponent(id)}/content`),
    remove: (taskId: string, id: string) => client.delete(`${base(taskId)}/${encodeURIComponent(id)}`),
  };
}
