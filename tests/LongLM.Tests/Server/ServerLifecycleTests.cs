#if LONGLM_SERVER
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using LongLM.Server;
using Xunit.Abstractions;

namespace LongLM.Tests.Server;

/// <summary>
/// Client disconnects and graceful shutdown of `longlm serve`, on stories260K with TinyLlama-Chat's template
/// (<see cref="ChatFixture"/>).
/// Expected values come from the server's contract: a disconnect frees its slot within one token (here: ActiveRequests
/// back to 0 within 2 s, polled) and the next request is served; StopAsync stops accepting, ends in-flight streams
/// (completed or cut) and returns within a few seconds (5 s here); connections are refused afterwards.
/// </summary>
[Collection(ServerAloneCollection.Name)]
public sealed class ServerLifecycleTests(ITestOutputHelper output)
{
    private static async Task<(HttpResponseMessage Response, StreamReader Reader)> StartStreamAsync(ServerHost host, int maxTokens, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody("Once upon a time", maxTokens, stream: true)) };
        var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        // Up to the first data line: the slot is taken and generation has begun.
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
            if (line.StartsWith("data: {", StringComparison.Ordinal)) return (response, reader);
        throw new Xunit.Sdk.XunitException("the stream ended before its first chunk");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task ClientCancelsAfterTheFirstChunk_SlotIsFreedWithin2s_AndTheNextRequestIsServed(int parallel)
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { Parallel = parallel });
        using (var cts = new CancellationTokenSource())
        {
            var (response, reader) = await ServerHost.WithinAsync(StartStreamAsync(host, 400, cts.Token), TimeSpan.FromSeconds(10), "the first chunk");
            Assert.Equal(1, host.Server.ActiveRequests);
            cts.Cancel();
            reader.Dispose();
            response.Dispose();
        }
        var clock = Stopwatch.StartNew();
        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)),
            $"{host.Server.ActiveRequests} requests still hold a slot 2 s after the client went away");
        var freed = clock.Elapsed;

        // stories260K decodes fast, so 2 s alone would not tell a cancelled generation from a finished one: the same
        // stream read to its end must take clearly longer than the slot took to free (when it runs long enough to tell).
        var full = Stopwatch.StartNew();
        using (var cts = new CancellationTokenSource())
        {
            var (response, reader) = await ServerHost.WithinAsync(StartStreamAsync(host, 400, cts.Token), TimeSpan.FromSeconds(10), "the first chunk");
            full.Restart();
            int chunks = 1;
            while (await reader.ReadLineAsync() is { } line && line != "data: [DONE]")
                if (line.StartsWith("data: {", StringComparison.Ordinal)) chunks++;
            full.Stop();
            reader.Dispose();
            response.Dispose();
            output.WriteLine($"slot freed {freed.TotalMilliseconds:F0} ms after the disconnect; the whole stream: {chunks} chunks in {full.Elapsed.TotalMilliseconds:F0} ms after its first");
            if (chunks >= 200 && full.Elapsed > TimeSpan.FromMilliseconds(200))
                Assert.True(freed < full.Elapsed / 2, $"the slot took {freed.TotalMilliseconds:F0} ms to free; the rest of the generation takes {full.Elapsed.TotalMilliseconds:F0} ms");
        }
        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)));
        clock.Restart();
        using var next = await ServerHost.WithinAsync(host.PostAsync("v1/chat/completions", host.ChatBody("Lily had a ball", 8)), TimeSpan.FromSeconds(10), "the next request");
        string body = await next.Content.ReadAsStringAsync();
        Assert.True(next.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(await host.ReferenceChatAsync([new(Microsoft.Extensions.AI.ChatRole.User, "Lily had a ball")], 8),
            (string?)JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12));
    }

    [Fact]
    public async Task ManyCancelledStreams_LeaveNoSlotHeld()
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { Parallel = 2, Queue = 8 });
        for (int i = 0; i < 20; i++)
        {
            using var cts = new CancellationTokenSource();
            var (response, reader) = await ServerHost.WithinAsync(StartStreamAsync(host, 300, cts.Token), TimeSpan.FromSeconds(10), $"stream {i}'s first chunk");
            cts.Cancel();
            reader.Dispose();
            response.Dispose();
        }
        Assert.True(await ServerHost.PollAsync(() => host.Server.ActiveRequests == 0, TimeSpan.FromSeconds(2)), $"{host.Server.ActiveRequests} slots held");
        using var health = await host.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task StopAsync_DuringALongStream_ReturnsWithinSeconds_EndsTheStream_ThenRefusesConnections()
    {
        await using var host = await ServerHost.StartAsync();
        var (response, reader) = await ServerHost.WithinAsync(StartStreamAsync(host, 400, CancellationToken.None), TimeSpan.FromSeconds(10), "the first chunk");
        using (response)
        using (reader)
        {
            var clock = Stopwatch.StartNew();
            await ServerHost.WithinAsync(host.Server.StopAsync(), TimeSpan.FromSeconds(5), "StopAsync");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"StopAsync took {clock.Elapsed}");

            // The stream ends: either its [DONE] came or the connection was cut; it must not stay open.
            var drain = Task.Run(async () =>
            {
                try
                {
                    while (await reader.ReadLineAsync() is { } line)
                        if (line == "data: [DONE]") return "done";
                    return "closed";
                }
                catch (IOException) { return "cut"; }
                catch (HttpRequestException) { return "cut"; }
            });
            string how = await ServerHost.WithinAsync(drain, TimeSpan.FromSeconds(5), "the stream's end after StopAsync");
            Assert.Contains(how, new[] { "done", "closed", "cut" });
        }
        Assert.Equal(0, host.Server.ActiveRequests);

        // A new client (no pooled connection) is refused.
        using var fresh = new HttpClient { BaseAddress = host.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => fresh.GetAsync("health"));
    }

    [Fact]
    public async Task StopAsync_WhenIdle_IsQuick_AndDisposeAfterStopIsHarmless()
    {
        var host = await ServerHost.StartAsync();
        using (var health = await host.Http.GetAsync("health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await ServerHost.WithinAsync(host.Server.StopAsync(), TimeSpan.FromSeconds(5), "StopAsync");
        await host.DisposeAsync();
    }
}
#endif
