#if LONGLM_SERVER
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using LongLM.Server;
using Microsoft.Extensions.AI;

namespace LongLM.Tests.Server;

/// <summary>Server tests that measure the whole process (memory) or saturate the slots run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServerAloneCollection
{
    public const string Name = "Server, alone";
}

/// <summary>
/// `longlm serve` under load, on stories260K with TinyLlama-Chat's template (<see cref="ChatFixture"/>).
/// Expected values: greedy replies equal those of <see cref="LongLMChatClient"/>, computed once per prompt before the run
/// (the server's slots are independent sessions, so concurrency must not change a greedy reply); malformed bodies get
/// 400; cancelled streams end on the client only. Memory: after a warm-up round, the managed heap
/// (GC.GetTotalMemory(true)) after the run is within 10 % or 8 MB (whichever is larger) of before, and the process
/// working set within 10 % or 32 MB (it includes native KV caches, thread stacks and the allocator's retained pages).
/// The run must finish within 60 s (a hang fails the test instead of hanging the suite).
/// </summary>
[Collection(ServerAloneCollection.Name)]
public sealed class ServerLoadTests
{
    private const int MaxTokens = 12;
    private static readonly string[] Prompts = ["Once upon a time", "Lily had a ball", "The cat sat on", "Tom went to the park"];

    private enum Kind { Chat, Stream, Cancel, Malformed, Completion }

    [Fact]
    public async Task SixteenClients_MixedRequests_AllCompleteCorrectlyOrFailCleanly_NoHang_NoLeak()
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { Parallel = 4, Queue = 64 });
        var chatReference = new Dictionary<string, string>();
        var completionReference = new Dictionary<string, string>();
        foreach (var p in Prompts)
        {
            chatReference[p] = await host.ReferenceChatAsync([new ChatMessage(ChatRole.User, p)], MaxTokens);
            completionReference[p] = host.ReferenceCompletion(p, MaxTokens);
        }

        // Warm-up: each kind once per client, so JIT, pools and the slots' sessions exist before the first measure.
        await ServerHost.WithinAsync(Round(host, 16, 5, chatReference, completionReference), TimeSpan.FromSeconds(60), "the warm-up round");
        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)));
        var (heapBefore, wsBefore) = Measure();

        var counts = await ServerHost.WithinAsync(Round(host, 16, 25, chatReference, completionReference), TimeSpan.FromSeconds(60), "16 clients x 25 requests");
        Assert.Equal(16 * 25, counts.Values.Sum());
        Assert.All(Enum.GetValues<Kind>(), k => Assert.True(counts[k] > 0, $"no {k} request ran"));

        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)), $"{host.Server.ActiveRequests} requests still hold a slot");
        var (heapAfter, wsAfter) = Measure();
        Assert.True(heapAfter <= Math.Max(heapBefore * 1.10, heapBefore + (8L << 20)), $"managed heap {heapBefore >> 10} KiB -> {heapAfter >> 10} KiB");
        Assert.True(wsAfter <= Math.Max(wsBefore * 1.10, wsBefore + (32L << 20)), $"working set {wsBefore >> 20} MiB -> {wsAfter >> 20} MiB");

        // Still serving, and still deterministic.
        using var last = await host.PostAsync("v1/chat/completions", host.ChatBody(Prompts[0], MaxTokens));
        Assert.Equal(chatReference[Prompts[0]], ChatContent(await last.Content.ReadAsStringAsync()));
    }

    private static (long Heap, long WorkingSet) Measure()
    {
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        GC.WaitForPendingFinalizers();
        heap = GC.GetTotalMemory(forceFullCollection: true);
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return (heap, self.WorkingSet64);
    }

    private static async Task<Dictionary<Kind, int>> Round(ServerHost host, int clients, int requests,
        Dictionary<string, string> chatReference, Dictionary<string, string> completionReference)
    {
        var perClient = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var done = new List<Kind>();
            for (int i = 0; i < requests; i++)
            {
                var kind = (Kind)((c + i) % 5);
                string prompt = Prompts[(c * 7 + i) % Prompts.Length];
                await OneRequest(host, kind, prompt, chatReference[prompt], completionReference[prompt], $"client {c} request {i} ({kind})");
                done.Add(kind);
            }
            return done;
        })));
        return perClient.SelectMany(k => k).GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
    }

    private static async Task OneRequest(ServerHost host, Kind kind, string prompt, string chatExpected, string completionExpected, string what)
    {
        switch (kind)
        {
            case Kind.Chat:
            {
                using var response = await host.PostAsync("v1/chat/completions", host.ChatBody(prompt, MaxTokens));
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what}: {(int)response.StatusCode} {body}");
                Assert.Equal(chatExpected, ChatContent(body));
                break;
            }
            case Kind.Stream:
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody(prompt, MaxTokens, stream: true)) };
                using var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what}: {(int)response.StatusCode}");
                var (chunks, done) = await ServerHost.ReadSseAsync(response);
                Assert.True(done, $"{what}: no [DONE]");
                Assert.Equal(chatExpected, ServerHost.ChatText(chunks));
                break;
            }
            case Kind.Cancel:
            {
                using var cts = new CancellationTokenSource();
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody(prompt, 200, stream: true)) };
                try
                {
                    using var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                    Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what}: {(int)response.StatusCode}");
                    await ServerHost.ReadSseAsync(response, cts.Token, _ => cts.Cancel());
                }
                catch (OperationCanceledException) { }
                catch (IOException) { }
                catch (HttpRequestException) { }
                break;
            }
            case Kind.Malformed:
            {
                string[] bad = ["{\"messages\": ", $"{{\"model\": \"{host.ModelId}\", \"messages\": []}}", $"{{\"model\": \"{host.ModelId}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}], \"n\": 2}}"];
                using var response = await host.PostAsync("v1/chat/completions", bad[prompt.Length % bad.Length]);
                await ServerHost.AssertErrorAsync(response, 400);
                break;
            }
            case Kind.Completion:
            {
                var body = new JsonObject { ["model"] = host.ModelId, ["prompt"] = prompt, ["max_tokens"] = MaxTokens, ["temperature"] = 0 };
                using var response = await host.PostAsync("v1/completions", body.ToJsonString());
                string text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what}: {(int)response.StatusCode} {text}");
                Assert.Equal(completionExpected, (string?)JsonNode.Parse(text)!["choices"]![0]!["text"]);
                break;
            }
        }
    }

    private static string? ChatContent(string body) => (string?)JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"];

    [Fact]
    public async Task OneSlotOneQueuePlace_FiveConcurrentLongStreams_SomeGet503WithRetryAfter()
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { Parallel = 1, Queue = 1 });
        // stories260K decodes fast: a round may finish its first stream before the last request arrives, so up to 3 rounds.
        int refused = 0;
        for (int round = 0; round < 3 && refused == 0; round++)
        {
            // Each request reads its own stream as soon as its headers come (the queued one gets them when the slot frees).
            var statuses = await ServerHost.WithinAsync(Task.WhenAll(Enumerable.Range(0, 5).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody(Prompts[i % Prompts.Length], 400, stream: true)) };
                using var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.True(response.Headers.RetryAfter is { } retry && (retry.Delta is { } d && d > TimeSpan.Zero || retry.Date is not null), "503 without a Retry-After");
                    await ServerHost.AssertErrorAsync(response, 503);
                }
                else
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    var (_, done) = await ServerHost.ReadSseAsync(response);
                    Assert.True(done);
                }
                return response.StatusCode;
            })), TimeSpan.FromSeconds(30), "five concurrent long streams");
            refused = statuses.Count(s => s == HttpStatusCode.ServiceUnavailable);
            Assert.True(refused <= 3, $"{refused} refused: one slot and one queue place take two of five");
        }
        Assert.True(refused > 0, "no 503 in 3 rounds of 5 concurrent long streams against 1 slot + 1 queue place");
        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)));
    }
}
#endif
