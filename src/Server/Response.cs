using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LongLM.Server;

/// <summary>
/// One completion's response: a JSON object, or with "stream" server-sent events (a chunk per text piece, a final
/// chunk with the finish reason, a usage chunk when asked, then <c>data: [DONE]</c>), in OpenAI's chat or legacy shape.
/// </summary>
internal sealed class Response(HttpContext context, string id, string model, bool stream, bool chat)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private int _logprobsSent;
    private bool _roleSent;

    private string Object => chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";

    public async Task BeginAsync()
    {
        if (!stream) return;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>Streams a piece of text (and the logprobs of the tokens behind it).</summary>
    public async Task DeltaAsync(string text, List<object>? logprobs)
    {
        if (!stream) return;
        object? lp = NewLogProbs(logprobs);
        object choice = chat
            ? new { index = 0, delta = _roleSent ? (object)new { content = text } : new { role = "assistant", content = text }, logprobs = lp, finish_reason = (string?)null }
            : new { index = 0, text, logprobs = lp, finish_reason = (string?)null };
        _roleSent = true;
        await SendAsync(new { id, @object = Object, created = _created, model, choices = new[] { choice } });
    }

    public async Task EndAsync(string finish, string text, List<object>? logprobs, int promptTokens, int cachedTokens, int completionTokens, bool streamUsage)
    {
        var usage = new
        {
            prompt_tokens = promptTokens,
            completion_tokens = completionTokens,
            total_tokens = promptTokens + completionTokens,
            prompt_tokens_details = new { cached_tokens = cachedTokens },
        };
        if (!stream)
        {
            object? lp = logprobs is null ? null : chat ? new { content = logprobs } : LegacyLogProbs(logprobs);
            object choice = chat
                ? new { index = 0, message = new { role = "assistant", content = text }, logprobs = lp, finish_reason = finish }
                : new { index = 0, text, logprobs = lp, finish_reason = finish };
            await context.Response.WriteAsJsonAsync(new { id, @object = Object, created = _created, model, choices = new[] { choice }, usage }, context.RequestAborted);
            return;
        }
        object end = chat
            ? new { index = 0, delta = _roleSent ? new { } : (object)new { role = "assistant" }, logprobs = NewLogProbs(logprobs), finish_reason = finish }
            : new { index = 0, text = "", logprobs = NewLogProbs(logprobs), finish_reason = finish };
        await SendAsync(new { id, @object = Object, created = _created, model, choices = new[] { end } });
        if (streamUsage) await SendAsync(new { id, @object = Object, created = _created, model, choices = Array.Empty<object>(), usage });
        await context.Response.WriteAsync("data: [DONE]\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>The logprobs entries not sent yet, in the stream's shape.</summary>
    private object? NewLogProbs(List<object>? logprobs)
    {
        if (logprobs is null) return null;
        var fresh = logprobs.Skip(_logprobsSent).ToList();
        _logprobsSent = logprobs.Count;
        return chat ? new { content = fresh } : LegacyLogProbs(fresh);
    }

    private static object LegacyLogProbs(List<object> entries)
    {
        var e = entries.Select(x => JsonSerializer.SerializeToElement(x)).ToList();
        return new
        {
            tokens = e.Select(x => x.GetProperty("token").GetString()).ToArray(),
            token_logprobs = e.Select(x => x.GetProperty("logprob").GetDouble()).ToArray(),
            top_logprobs = e.Select(x => x.GetProperty("top_logprobs").EnumerateArray().GroupBy(t => t.GetProperty("token").GetString()!).ToDictionary(g => g.Key, g => g.First().GetProperty("logprob").GetDouble())).ToArray(),
        };
    }

    private async Task SendAsync(object chunk)
    {
        await context.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
