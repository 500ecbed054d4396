#if LONGLM_SERVER
using System.Net;
using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using Microsoft.Extensions.AI;

namespace LongLM.Tests.Server;

/// <summary>
/// Sampling parameters of `longlm serve`'s chat endpoint over raw HTTP, on stories260K with TinyLlama-Chat's template
/// (<see cref="ChatFixture"/>).
/// Expected values: the reply of <see cref="LongLMChatClient"/> whose GenerationOptions carry the same settings
/// (temperature, top_p, top_k, min_p, seed, penalties, stop strings: every sampling field is given explicitly, so the
/// server's defaults for unset fields do not matter); min_p = 1 keeps only the most likely token, so it equals greedy;
/// logprobs: log-softmax of LanguageModel.Logits over the rendered prompt (HF's model(input_ids)) for the first token.
/// </summary>
public sealed class ServerParameterTests
{
    private const string User = "Once upon a time";
    private static ChatMessage[] Messages => [new(ChatRole.User, User)];

    public static TheoryData<string> Settings => new()
    {
        """{"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "seed": 7}""",
        """{"temperature": 1.0, "top_p": 0.9, "top_k": 100, "min_p": 0, "seed": 3}""",
        """{"temperature": 0.7, "top_p": 1, "top_k": 5, "min_p": 0.1, "seed": 11}""",
        """{"temperature": 0, "top_p": 1, "top_k": 40, "min_p": 0, "frequency_penalty": 1.5}""",
        """{"temperature": 0, "top_p": 1, "top_k": 40, "min_p": 0, "presence_penalty": 1.0}""",
        """{"temperature": 0.9, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "seed": 5, "frequency_penalty": 0.5, "presence_penalty": 0.5}""",
    };

    private static GenerationOptions Generation(JsonObject p, int maxTokens) => new()
    {
        MaxTokens = maxTokens,
        Sampling = new SamplingOptions
        {
            Temperature = (float)p["temperature"]!,
            TopP = (float)p["top_p"]!,
            TopK = (int)p["top_k"]!,
            MinP = (float)p["min_p"]!,
            Seed = p["seed"] is { } seed ? (int)seed : null,
            FrequencyPenalty = p["frequency_penalty"] is { } f ? (float)f : 0,
            PresencePenalty = p["presence_penalty"] is { } pp ? (float)pp : 0,
        },
    };

    private static string Body(ServerHost host, JsonObject settings, int maxTokens, bool stream = false)
    {
        var body = settings.DeepClone().AsObject();
        body["model"] = host.ModelId;
        body["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = User } };
        body["max_tokens"] = maxTokens;
        body["stream"] = stream;
        return body.ToJsonString();
    }

    private static async Task<JsonNode> PostOkAsync(ServerHost host, string body)
    {
        using var response = await host.PostAsync("v1/chat/completions", body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public async Task SampledReply_EqualsTheLibrarysWithTheSameSettings_StreamingAndNot_AndRepeats(string settingsJson)
    {
        await using var host = await ServerHost.StartAsync();
        var settings = JsonNode.Parse(settingsJson)!.AsObject();
        string expected = (await host.ReferenceChatResponseAsync(Messages, Generation(settings, 24))).Text;
        var first = await PostOkAsync(host, Body(host, settings, 24));
        Assert.Equal(expected, (string?)first["choices"]![0]!["message"]!["content"]);
        var again = await PostOkAsync(host, Body(host, settings, 24));
        Assert.Equal(expected, (string?)again["choices"]![0]!["message"]!["content"]);
        using var streamed = await host.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(Body(host, settings, 24, stream: true)) },
            HttpCompletionOption.ResponseHeadersRead);
        var (chunks, done) = await ServerHost.ReadSseAsync(streamed);
        Assert.True(done);
        Assert.Equal(expected, ServerHost.ChatText(chunks));
    }

    [Fact]
    public async Task DifferentSeeds_GiveDifferentReplies()
    {
        await using var host = await ServerHost.StartAsync();
        var texts = new HashSet<string>();
        for (int seed = 1; seed <= 4; seed++)
        {
            var settings = new JsonObject { ["temperature"] = 1.0, ["top_p"] = 1.0, ["top_k"] = 200, ["min_p"] = 0, ["seed"] = seed };
            texts.Add((string)(await PostOkAsync(host, Body(host, settings, 24)))["choices"]![0]!["message"]!["content"]!);
        }
        Assert.True(texts.Count >= 2, "four seeds at temperature 1 gave one reply");
    }

    [Fact]
    public async Task MinP1_KeepsOnlyTheMostLikelyToken_SoEqualsGreedy()
    {
        await using var host = await ServerHost.StartAsync();
        var settings = new JsonObject { ["temperature"] = 1.0, ["top_p"] = 1.0, ["top_k"] = 100, ["min_p"] = 1.0, ["seed"] = 9 };
        var reply = await PostOkAsync(host, Body(host, settings, 16));
        Assert.Equal(await host.ReferenceChatAsync(Messages, 16), (string?)reply["choices"]![0]!["message"]!["content"]);
    }

    [Theory]
    [InlineData("\"stop\": \".\"")]
    [InlineData("\"stop\": [\"little\", \"zzz\"]")]
    public async Task Stop_EndsTheReplyBeforeTheStopString_WithFinishReasonStop(string stopJson)
    {
        await using var host = await ServerHost.StartAsync();
        var settings = JsonNode.Parse("{\"temperature\": 0, " + stopJson + "}")!.AsObject();
        string[] stops = settings["stop"] is JsonArray a ? a.Select(s => (string)s!).ToArray() : [(string)settings["stop"]!];
        string greedy = await host.ReferenceChatAsync(Messages, 48);
        Assert.True(stops.Any(greedy.Contains), $"the greedy reply must contain a stop string for this test to mean anything: {greedy}");
        var expected = await host.ReferenceChatResponseAsync(Messages, new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy, StopSequences = stops });
        var reply = await PostOkAsync(host, Body(host, settings, 48));
        string content = (string)reply["choices"]![0]!["message"]!["content"]!;
        Assert.Equal(expected.Text, content);
        Assert.DoesNotContain(stops, content.Contains);
        Assert.Equal("stop", (string?)reply["choices"]![0]!["finish_reason"]);
        using var streamed = await host.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(Body(host, settings, 48, stream: true)) },
            HttpCompletionOption.ResponseHeadersRead);
        var (chunks, done) = await ServerHost.ReadSseAsync(streamed);
        Assert.True(done);
        Assert.Equal(expected.Text, ServerHost.ChatText(chunks)); // held-back text of a partial stop match is never sent
        Assert.Contains(chunks, c => c["choices"] is JsonArray { Count: > 0 } ch && (string?)ch[0]!["finish_reason"] == "stop");
    }

    [Fact]
    public async Task MaxCompletionTokens_IsMaxTokens()
    {
        await using var host = await ServerHost.StartAsync();
        var body = JsonNode.Parse(host.ChatBody(User, 5))!.AsObject();
        body.Remove("max_tokens");
        body["max_completion_tokens"] = 7;
        var reply = await PostOkAsync(host, body.ToJsonString());
        Assert.Equal(7, (int)reply["usage"]!["completion_tokens"]!);
        Assert.Equal(await host.ReferenceChatAsync(Messages, 7), (string?)reply["choices"]![0]!["message"]!["content"]);
    }

    [Fact]
    public async Task Logprobs_GreedyTokensAreTheTopOnes_AndTheFirstMatchesTheModelsLogSoftmax()
    {
        await using var host = await ServerHost.StartAsync();
        var body = JsonNode.Parse(host.ChatBody(User, 6))!.AsObject();
        body["logprobs"] = true;
        body["top_logprobs"] = 3;
        var reply = await PostOkAsync(host, body.ToJsonString());
        var content = reply["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(6, content.Count);
        foreach (var entry in content)
        {
            double logprob = (double)entry!["logprob"]!;
            Assert.True(logprob <= 0);
            var top = entry["top_logprobs"]!.AsArray().Select(t => (double)t!["logprob"]!).ToArray();
            Assert.Equal(3, top.Length);
            Assert.True(top[0] >= top[1] && top[1] >= top[2], string.Join(", ", top));
            Assert.Equal(top[0], logprob, 5); // greedy: the chosen token is the most likely
            Assert.Equal((string?)entry["token"], (string?)entry["top_logprobs"]![0]!["token"]);
        }

        // The first token's log-probability from the model directly.
        using var client = new LongLMChatClient(host.Model);
        var messages = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = User } };
        int[] ids = client.Format.Encode(client.Format.Render(messages, null, addGenerationPrompt: true));
        var logits = host.Model.Logits(ids);
        int vocab = host.Model.Config.VocabSize;
        var last = logits.AsSpan((ids.Length - 1) * vocab, vocab);
        float max = float.NegativeInfinity;
        foreach (float x in last) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in last) sum += Math.Exp(x - max);
        Assert.Equal(-Math.Log(sum), (double)content[0]!["logprob"]!, 3); // the argmax's log-softmax: (max - max) - log(sum)
    }
}
#endif
