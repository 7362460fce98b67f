// Start-up helper: the one block size prompts are hashed in, so the tokenizer pool, the policies and the KV-event index agree.

/** --kv-block-size when set (it describes the engines' blocks), else --block-size. */
export const routingBlockSize = (config: { readonly block_size: number; readonly kv_block_size?: number | undefined }): number => config.kv_block_size ?? config.block_size;
