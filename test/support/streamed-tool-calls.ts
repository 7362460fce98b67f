// What an OpenAI chat stream's deltas add up to: the tool calls by index, the finish reason, the content, and how
// many chunks carried call deltas (a call streamed in pieces, or whole in one chunk).
import type OpenAI from 'openai';

export interface StreamedToolCalls {
  readonly calls: { id?: string; name: string; arguments: string }[];
  readonly finish: string | null | undefined;
  readonly content: string;
  readonly chunksWithCalls: number;
}

export async function streamedToolCalls(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>): Promise<StreamedToolCalls> {
  const calls: { id?: string; name: string; arguments: string }[] = [];
  let finish: string | null | undefined;
  let content = '';
  let chunksWithCalls = 0;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    content += choice.delta.content ?? '';
    if (choice.delta.tool_calls?.length) chunksWithCalls++;
    for (const d of choice.delta.tool_calls ?? []) {
      const call = (calls[d.index] ??= { name: '', arguments: '' });
      if (d.id) call.id = d.id;
      call.name += d.function?.name ?? '';
      call.arguments += d.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  return { calls, finish, content, chunksWithCalls };
}
