#if LONGLM_SERVER
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using LongLM.Server;
using Microsoft.Extensions.AI;

namespace LongLM.Tests.Server;

/// <summary>
/// A <see cref="LongLMServer"/> on a free port over one loaded model, with an <see cref="HttpClient"/> for it, and the
/// in-process references the server tests compare against (<see cref="LongLMChatClient"/>, greedy).
/// </summary>
public sealed class ServerHost : IAsyncDisposable
{
    private ServerHost(LanguageModel model, LongLMServer server, HttpClient http)
    {
        Model = model;
        Server = server;
        Http = http;
    }

    public LanguageModel Model { get; }
    public LongLMServer Server { get; }
    public HttpClient Http { get; }
    public Uri V1 => new(Server.BaseAddress, "v1");
    /// <summary>The model id the server reports by default: the folder name.</summary>
    public string ModelId => Path.GetFileName(Path.TrimEndingDirectorySeparator(Model.Directory));

    /// <summary>Starts a server on port 0 over <paramref name="folder"/> (default: <see cref="ChatFixture.Folder"/>).</summary>
    public static async Task<ServerHost> StartAsync(ServerOptions? options = null, string? folder = null)
    {
        var lm = LanguageModel.Load(folder ?? ChatFixture.Folder);
        try
        {
            var server = await LongLMServer.StartAsync(lm, (options ?? new ServerOptions()) with { Port = 0 });
            // No draining of an abandoned response: HttpClient would otherwise keep reading a disposed stream (up to
            // 1 MB or 2 s) to reuse the connection, and the server would see a live client.
            var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            return new ServerHost(lm, server, http);
        }
        catch
        {
            lm.Dispose();
            throw;
        }
    }

    /// <summary>The greedy reply of <see cref="LongLMChatClient"/> (the library the server wraps) to <paramref name="messages"/>.</summary>
    public async Task<string> ReferenceChatAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, int maxTokens) =>
        (await ReferenceChatResponseAsync(messages, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy })).Text;

    /// <summary>The reply of <see cref="LongLMChatClient"/> with <paramref name="generation"/> as its settings.</summary>
    public async Task<ChatResponse> ReferenceChatResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, GenerationOptions generation)
    {
        using var client = new LongLMChatClient(Model, new LongLMChatClientOptions { Defaults = generation, MaxCachedConversations = 0 });
        return await client.GetResponseAsync(messages);
    }

    /// <summary>The greedy continuation of a raw prompt, tokenized as `longlm generate` does (the tokenizer's BOS rule).</summary>
    public string ReferenceCompletion(string prompt, int maxTokens)
    {
        using var session = Model.CreateSession();
        var ids = session.Generate(Model.Tokenizer.Encode(prompt), new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy, StopIds = Model.StopIds }).ToArray();
        return Model.Tokenizer.Decode(ids);
    }

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    public Task<HttpResponseMessage> PostAsync(string path, string body, CancellationToken cancellationToken = default) =>
        Http.PostAsync(path, Json(body), cancellationToken);

    /// <summary>A chat request body: one user message, greedy.</summary>
    public string ChatBody(string user, int maxTokens, bool stream = false) => ChatBody(ModelId, user, maxTokens, stream);

    /// <summary>A chat request body for <paramref name="model"/>: one user message, greedy.</summary>
    public static string ChatBody(string model, string user, int maxTokens, bool stream = false) =>
        new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = user } },
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = stream,
        }.ToJsonString();

    /// <summary>Reads an SSE body: the JSON of each `data:` line up to `data: [DONE]`; Done says whether it came.</summary>
    public static async Task<(List<JsonObject> Chunks, bool Done)> ReadSseAsync(HttpResponseMessage response, CancellationToken cancellationToken = default,
        Action<JsonObject>? onChunk = null)
    {
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var chunks = new List<JsonObject>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0 || line.StartsWith(':')) continue;
            Assert.StartsWith("data: ", line);
            string data = line["data: ".Length..];
            if (data == "[DONE]") return (chunks, true);
            var chunk = JsonNode.Parse(data)!.AsObject();
            chunks.Add(chunk);
            onChunk?.Invoke(chunk);
        }
        return (chunks, false);
    }

    /// <summary>The text of chat chunks (choices[0].delta.content) concatenated.</summary>
    public static string ChatText(IEnumerable<JsonObject> chunks) =>
        string.Concat(chunks.Select(c => c["choices"] is JsonArray { Count: > 0 } a ? (string?)a[0]!["delta"]?["content"] : null));

    /// <summary>Asserts an OpenAI error object with <paramref name="status"/> and returns it.</summary>
    public static async Task<JsonObject> AssertErrorAsync(HttpResponseMessage response, int status)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonNode.Parse(text)!["error"]!.AsObject();
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]), text);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["type"]), text);
        Assert.True(error.ContainsKey("param"), text);
        Assert.True(error.ContainsKey("code"), text);
        return error;
    }

    public static AuthenticationHeaderValue Bearer(string key) => new("Bearer", key);

    /// <summary>Polls <paramref name="condition"/> every 20 ms up to <paramref name="timeout"/>.</summary>
    public static async Task<bool> PollAsync(Func<bool> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until) return false;
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>Fails the test if <paramref name="work"/> does not finish within <paramref name="timeout"/> (instead of hanging the suite).</summary>
    public static async Task<T> WithinAsync<T>(Task<T> work, TimeSpan timeout, string what)
    {
        var finished = await Task.WhenAny(work, Task.Delay(timeout));
        Assert.True(finished == work, $"{what} did not finish within {timeout.TotalSeconds} s");
        return await work;
    }

    public static async Task WithinAsync(Task work, TimeSpan timeout, string what)
    {
        var finished = await Task.WhenAny(work, Task.Delay(timeout));
        Assert.True(finished == work, $"{what} did not finish within {timeout.TotalSeconds} s");
        await work;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Model.Dispose();
    }
}
#endif
