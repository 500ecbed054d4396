using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace LongLM.Server;

/// <summary>The routes and their OpenAI request and response shapes.</summary>
internal sealed class OpenAIEndpoints(LanguageModel model, ChatFormat? format, SlotPool slots, string modelName)
{
    private static readonly string[] Roles = ["system", "user", "assistant", "tool", "developer"];
    private readonly GenerationOptions _defaults = GenerationDefaults.For(model);
    private readonly LongLMEmbeddingGenerator _embeddings = new(model);
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public void Map(WebApplication app)
    {
        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = modelName, @object = "model", created = _created, owned_by = "longlm" } },
        }));
        app.MapPost("/v1/chat/completions", ChatAsync);
        app.MapPost("/v1/completions", CompletionsAsync);
        app.MapPost("/v1/embeddings", EmbeddingsAsync);
        app.MapPost("/tokenize", TokenizeAsync);
        app.MapPost("/detokenize", DetokenizeAsync);
        app.MapFallback(context => throw new OpenAIError(404, $"no route {context.Request.Method} {context.Request.Path}", code: "not_found"));
    }

    /// <summary>Writes <paramref name="e"/> as an OpenAI error (when the response has not started; else ends it).</summary>
    public static async Task WriteErrorAsync(HttpContext context, Exception e)
    {
        var error = e switch
        {
            OpenAIError o => o,
            JsonException j => OpenAIError.BadRequest($"malformed JSON: {j.Message}"),
            BadHttpRequestException b when b.StatusCode == 413 => new OpenAIError(413, "the request body is over the server's limit", code: "request_too_large"),
            BadHttpRequestException b => new OpenAIError(b.StatusCode, b.Message),
            LongLMException l => OpenAIError.BadRequest(l.Message),
            OperationCanceledException => null,
            _ => new OpenAIError(500, $"internal error: {e.GetType().Name}: {e.Message}", "server_error"),
        };
        if (error is null || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested) return;
        context.Response.StatusCode = error.Status;
        if (error.Status == 503) context.Response.Headers.RetryAfter = "1";
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(error.ToJson(), CancellationToken.None);
    }

    private static async Task<RequestFields> ReadAsync(HttpContext context)
    {
        if (context.Request.ContentLength is 0) throw OpenAIError.BadRequest("the request body is empty: send a JSON object");
        using var document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, context.RequestAborted);
        return new RequestFields(document.RootElement.Clone());
    }

    private void CheckModel(RequestFields request)
    {
        if (request.String("model") is { } name && name != modelName && name.Length > 0)
            throw new OpenAIError(404, $"the model '{name}' does not exist; this server serves '{modelName}'", param: "model", code: "model_not_found");
    }

    /// <summary>
    /// Under vanilla attention a prompt past the context would degrade silently: refused, pointing to LM-Infinite.
    /// <paramref name="promptTokens"/> is only counted (an encoding of the whole prompt) where the limit applies.
    /// </summary>
    private void CheckContext(Func<int> promptTokens, string param)
    {
        if (model.Model.Policy.Mode != AttentionMode.Vanilla) return;
        int count = promptTokens();
        if (count > model.Model.ContextLength)
            throw OpenAIError.BadRequest($"the prompt has {count} tokens, past the model's context length of {model.Model.ContextLength}; start the server with --lm-infinite to serve longer inputs", param);
    }

    private JsonArray Messages(RequestFields request)
    {
        if (!request.Has("messages") || request.Root.GetProperty("messages") is not { ValueKind: JsonValueKind.Array } array)
            throw OpenAIError.BadRequest("'messages' must be an array of messages", "messages");
        if (array.GetArrayLength() == 0) throw OpenAIError.BadRequest("'messages' is empty", "messages");
        var messages = new JsonArray();
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw OpenAIError.BadRequest($"{at} must be an object", at);
            if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || !Roles.Contains(role.GetString()))
                throw OpenAIError.BadRequest($"{at}.role must be one of {string.Join(", ", Roles)}", at + ".role");
            var message = JsonNode.Parse(m.GetRawText())!.AsObject();
            if (role.GetString() == "developer") message["role"] = "system";
            message["content"] = Content(m, at);
            messages.Add(message);
        }
        return messages;
    }

    /// <summary>content: a string, null (assistant tool calls), or an array of {"type": "text", "text"} parts, joined.</summary>
    private static string Content(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null) return "";
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw OpenAIError.BadRequest($"{at}.content must be a string or an array of text parts", at + ".content");
        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.GetString() != "text"
                || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw OpenAIError.BadRequest($"{at}.content parts must be {{\"type\": \"text\", \"text\": \"...\"}} (this model reads text only)", at + ".content");
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    private async Task ChatAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        request.RejectUnhonoured();
        CheckModel(request);
        if (format is null) throw OpenAIError.BadRequest("this model has no chat template: start the server with --chat-template FILE, or use /v1/completions");
        var messages = Messages(request);
        JsonArray? tools = request.Has("tools") ? JsonNode.Parse(request.Root.GetProperty("tools").GetRawText()) as JsonArray
            ?? throw OpenAIError.BadRequest("'tools' must be an array", "tools") : null;
        var options = request.Generation(_defaults, MaxTokensLimit);
        int? top = request.LogProbs(chat: true);
        bool stream = request.Bool("stream");
        bool usage = request.StreamWithUsage();
        var rendered = format.Render(messages, tools, addGenerationPrompt: true);
        CheckContext(() => format.Encode(rendered).Length, "messages");

        using var lease = await slots.AcquireAsync(rendered.Text, context.RequestAborted);
        var conversation = lease.Conversation;
        var prompt = conversation.Adopt(rendered, messages, tools);
        var response = new Response(context, "chatcmpl-" + Guid.NewGuid().ToString("N"), modelName, stream, chat: true);
        var logprobs = top is int n ? new List<object>() : null;
        bool healthy = false;
        try
        {
            var pieces = new StringBuilder();
            await response.BeginAsync();
            string? pending = null;
            void OnToken(int id)
            {
                if (logprobs is null) return;
                var (lp, alternatives) = LogProbs.Of(conversation.Session.Logits, id, top!.Value);
                logprobs.Add(Entry(id, lp, alternatives));
            }
            await foreach (var text in conversation.ReplyAsync(prompt, options, OnToken, context.RequestAborted))
            {
                pieces.Append(text);
                pending = text;
                await response.DeltaAsync(text, logprobs);
            }
            var turn = conversation.LastTurn!;
            await response.EndAsync(Finish(turn.Finish), pieces.ToString(), logprobs, turn.PromptTokens, turn.CachedPromptTokens, turn.GeneratedTokens, usage);
            healthy = true;
        }
        finally
        {
            // A cancelled or failed turn may leave the cache part-way: the slot starts its next conversation afresh.
            if (!healthy) conversation.Reset();
        }
    }

    private async Task CompletionsAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        request.RejectUnhonoured();
        CheckModel(request);
        string prompt = request.Root.TryGetProperty("prompt", out var p) switch
        {
            true when p.ValueKind == JsonValueKind.String => p.GetString()!,
            true when p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String => p[0].GetString()!,
            _ => throw OpenAIError.BadRequest("'prompt' must be a string (or an array of one string)", "prompt"),
        };
        var options = request.Generation(_defaults, MaxTokensLimit);
        int? top = request.LogProbs(chat: false);
        bool stream = request.Bool("stream");
        bool usage = request.StreamWithUsage();
        var ids = model.Tokenizer.Encode(prompt);
        if (ids.Length == 0) throw OpenAIError.BadRequest("the prompt is empty and this tokenizer adds no BOS token", "prompt");
        CheckContext(() => ids.Length, "prompt");

        using var lease = await slots.AcquireAsync(null, context.RequestAborted);
        var conversation = lease.Conversation;
        conversation.Reset();
        var session = conversation.Session;
        var response = new Response(context, "cmpl-" + Guid.NewGuid().ToString("N"), modelName, stream, chat: false);
        var logprobs = top is not null ? new List<object>() : null;
        try
        {
            var text = new StringBuilder();
            await response.BeginAsync();
            await foreach (var token in session.StreamAsync(ids, options, context.RequestAborted))
            {
                if (token.Id >= 0 && logprobs is not null)
                {
                    var (lp, alternatives) = LogProbs.Of(session.Logits, token.Id, top!.Value);
                    logprobs.Add(Entry(token.Id, lp, alternatives));
                }
                if (token.Text.Length == 0) continue;
                text.Append(token.Text);
                await response.DeltaAsync(token.Text, logprobs);
            }
            var result = session.LastResult!;
            await response.EndAsync(Finish(result.Finish), text.ToString(), logprobs, ids.Length, 0, result.GeneratedTokens, usage);
        }
        finally
        {
            conversation.Reset();
        }
    }

    private async Task EmbeddingsAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        request.RejectUnhonoured();
        CheckModel(request);
        if (!request.Root.TryGetProperty("input", out var input)) throw OpenAIError.BadRequest("'input' is required", "input");
        string[] texts = input.ValueKind switch
        {
            JsonValueKind.String => [input.GetString()!],
            JsonValueKind.Array when input.GetArrayLength() is > 0 and <= 2048 && input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String)
                => input.EnumerateArray().Select(e => e.GetString()!).ToArray(),
            _ => throw OpenAIError.BadRequest("'input' must be a string or an array of 1 to 2048 strings", "input"),
        };
        string encoding = request.String("encoding_format") ?? "float";
        if (encoding is not ("float" or "base64")) throw OpenAIError.BadRequest("'encoding_format' must be float or base64", "encoding_format");
        if (request.Integer("dimensions", 1, int.MaxValue) is long d && d != model.Config.HiddenSize)
            throw OpenAIError.BadRequest($"this model's embeddings have {model.Config.HiddenSize} dimensions", "dimensions");
        foreach (var t in texts) CheckContext(() => model.Tokenizer.Encode(t).Length, "input");
        using var lease = await slots.AcquireAsync(null, context.RequestAborted);
        var result = await _embeddings.GenerateAsync(texts, cancellationToken: context.RequestAborted);
        var data = result.Select((e, i) => new
        {
            @object = "embedding",
            index = i,
            embedding = encoding == "float" ? (object)e.Vector.ToArray() : Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.Vector.Span)),
        });
        long tokens = result.Usage?.InputTokenCount ?? 0;
        await context.Response.WriteAsJsonAsync(new { @object = "list", data, model = modelName, usage = new { prompt_tokens = tokens, total_tokens = tokens } }, context.RequestAborted);
    }

    private async Task TokenizeAsync(HttpContext context)
    {
        var lm = model;
        var request = await ReadAsync(context);
        string content = request.String("content") ?? throw OpenAIError.BadRequest("'content' must be a string", "content");
        bool addSpecial = request.Bool("add_special");
        await context.Response.WriteAsJsonAsync(new { tokens = lm.Tokenizer.Encode(content, addSpecial && lm.Tokenizer.AddBos) });
    }

    private async Task DetokenizeAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        if (!request.Root.TryGetProperty("tokens", out var tokens) || tokens.ValueKind != JsonValueKind.Array
            || tokens.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id) || (uint)id >= (uint)model.Tokenizer.VocabSize))
            throw OpenAIError.BadRequest($"'tokens' must be an array of ids in [0, {model.Tokenizer.VocabSize})", "tokens");
        var ids = tokens.EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await context.Response.WriteAsJsonAsync(new { content = model.Tokenizer.Decode(ids) });
    }

    private int MaxTokensLimit => (int)Math.Min(1 << 20, model.Model.Policy.Mode == AttentionMode.Vanilla ? model.Model.ContextLength : 1 << 20);

    private object Entry(int id, double logProb, (int Id, double LogProb)[] top)
    {
        string token = model.Tokenizer.Decode([id]);
        return new
        {
            token,
            logprob = logProb,
            bytes = Encoding.UTF8.GetBytes(token),
            top_logprobs = top.Select(t => { string s = model.Tokenizer.Decode([t.Id]); return new { token = s, logprob = t.LogProb, bytes = Encoding.UTF8.GetBytes(s) }; }).ToArray(),
        };
    }

    private static string Finish(FinishReason finish) => finish == FinishReason.Length ? "length" : "stop";
}
