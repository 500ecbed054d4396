#if LONGLM_SERVER
using System.ClientModel;
using System.Text.Json.Nodes;
using LongLM.Chat;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Models;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace LongLM.Tests.Server;

/// <summary>
/// `longlm serve` through the official OpenAI .NET SDK 2.15.0 and Microsoft.Extensions.AI.OpenAI 10.11.0, on
/// stories260K with TinyLlama-Chat's template (<see cref="ChatFixture"/>).
/// Expected values: greedy replies are those of <see cref="LongLMChatClient"/> (the library the server wraps) on the same
/// messages and max tokens; raw completions those of session.Generate on the tokenizer's ids (as `longlm generate`);
/// embeddings those of <see cref="LongLMEmbeddingGenerator"/>, 64 wide (stories260K's hidden_size); the model id is the
/// folder name (the contract's default).
/// </summary>
public sealed class OpenAISdkTests
{
    private const int MaxTokens = 16;

    private static OpenAIClientOptions Options(ServerHost host) => new() { Endpoint = host.V1, NetworkTimeout = TimeSpan.FromSeconds(60) };
    private static ChatClient Chat(ServerHost host) => new(host.ModelId, new ApiKeyCredential("x"), Options(host));
    private static ChatCompletionOptions Greedy => new() { Temperature = 0, MaxOutputTokenCount = MaxTokens };

    [Fact]
    public async Task NonStreamingChat_IsTheLibrarysGreedyReply_WithUsageAndModel()
    {
        await using var host = await ServerHost.StartAsync();
        var completion = (await Chat(host).CompleteChatAsync([new UserChatMessage("Once upon a time")], Greedy)).Value;
        string expected = await host.ReferenceChatAsync([new AIChatMessage(AIChatRole.User, "Once upon a time")], MaxTokens);
        Assert.Equal(expected, string.Concat(completion.Content.Select(p => p.Text)));
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(MaxTokens, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.Equal(host.ModelId, completion.Model);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
    }

    [Fact]
    public async Task StreamingChat_ConcatenatesToTheNonStreamingText_AndReportsUsageWhenAsked()
    {
        await using var host = await ServerHost.StartAsync();
        var chat = Chat(host);
        OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("Tell a story."), new UserChatMessage("Lily had a ball")];
        var whole = (await chat.CompleteChatAsync(messages, Greedy)).Value;
        var text = new System.Text.StringBuilder();
        int updates = 0;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        // The SDK sets stream_options.include_usage itself on streaming calls.
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Greedy))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(string.Concat(whole.Content.Select(p => p.Text)), text.ToString());
        Assert.Equal(await host.ReferenceChatAsync([new AIChatMessage(AIChatRole.System, "Tell a story."), new AIChatMessage(AIChatRole.User, "Lily had a ball")], MaxTokens), text.ToString());
        Assert.True(updates > 2, $"{updates} updates");
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(MaxTokens, usage!.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task LegacyCompletions_AreTheGreedyContinuationOfTheRawPrompt()
    {
        // SDK 2.15's LegacyCompletionClient has protocol methods only, so this posts the JSON itself.
        await using var host = await ServerHost.StartAsync();
        var body = new JsonObject { ["model"] = host.ModelId, ["prompt"] = "Once upon a time", ["max_tokens"] = MaxTokens, ["temperature"] = 0 };
        using var response = await host.PostAsync("v1/completions", body.ToJsonString());
        string json = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, json);
        var root = JsonNode.Parse(json)!;
        Assert.Equal("text_completion", (string?)root["object"]);
        Assert.Equal(host.ModelId, (string?)root["model"]);
        var choice = root["choices"]![0]!;
        Assert.Equal(host.ReferenceCompletion("Once upon a time", MaxTokens), (string?)choice["text"]);
        Assert.Equal("length", (string?)choice["finish_reason"]);
        Assert.Equal(MaxTokens, (int)root["usage"]!["completion_tokens"]!);
        Assert.Equal(host.Model.Tokenizer.Encode("Once upon a time").Length, (int)root["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task Embeddings_Are64WideAndEqualTheLibrarys()
    {
        await using var host = await ServerHost.StartAsync();
        var client = new EmbeddingClient(host.ModelId, new ApiKeyCredential("x"), Options(host));
        var one = (await client.GenerateEmbeddingAsync("Lily had a ball")).Value.ToFloats().ToArray();
        Assert.Equal(64, one.Length);
        var many = (await client.GenerateEmbeddingsAsync(["Lily had a ball", "Tim ran home"])).Value;
        Assert.Equal(2, many.Count);
        Assert.Equal([0, 1], many.Select(e => e.Index));
        Assert.All(many, e => Assert.Equal(64, e.ToFloats().Length));
        using var library = new LongLMEmbeddingGenerator(host.Model);
        var expected = (await library.GenerateAsync(["Lily had a ball"]))[0].Vector.ToArray();
        AssertClose(expected, one);
        AssertClose(one, many[0].ToFloats().ToArray());
    }

    [Fact]
    public async Task Models_ListsTheOneModelByItsFolderName()
    {
        await using var host = await ServerHost.StartAsync();
        var models = (await new OpenAIModelClient(new ApiKeyCredential("x"), Options(host)).GetModelsAsync()).Value;
        Assert.Equal(host.ModelId, Assert.Single(models).Id);
    }

    [Fact]
    public async Task ModelName_OptionRenamesTheModel()
    {
        await using var host = await ServerHost.StartAsync(new LongLM.Server.ServerOptions { ModelName = "tiny" });
        var models = (await new OpenAIModelClient(new ApiKeyCredential("x"), Options(host)).GetModelsAsync()).Value;
        Assert.Equal("tiny", Assert.Single(models).Id);
        var completion = (await new ChatClient("tiny", new ApiKeyCredential("x"), Options(host)).CompleteChatAsync([new UserChatMessage("Hi")], Greedy)).Value;
        Assert.Equal("tiny", completion.Model);
    }

    [Fact]
    public async Task MicrosoftExtensionsAI_IChatClient_GivesTheLibrarysGreedyReply_StreamingAndNot()
    {
        await using var host = await ServerHost.StartAsync();
        IChatClient client = Chat(host).AsIChatClient();
        AIChatMessage[] messages = [new(AIChatRole.User, "The cat sat")];
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = MaxTokens };
        string expected = await host.ReferenceChatAsync(messages, MaxTokens);
        var response = await client.GetResponseAsync(messages, options);
        Assert.Equal(expected, response.Text);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(MaxTokens, response.Usage?.OutputTokenCount);
        var updates = await client.GetStreamingResponseAsync(messages, options).ToListAsync();
        Assert.Equal(expected, string.Concat(updates.Select(u => u.Text)));
        Assert.Contains(updates, u => u.FinishReason == Microsoft.Extensions.AI.ChatFinishReason.Length);
    }

    [Fact]
    public async Task MicrosoftExtensionsAI_IEmbeddingGenerator_Gives64WideVectors()
    {
        await using var host = await ServerHost.StartAsync();
        IEmbeddingGenerator<string, Embedding<float>> generator = new EmbeddingClient(host.ModelId, new ApiKeyCredential("x"), Options(host)).AsIEmbeddingGenerator();
        var embeddings = await generator.GenerateAsync(["Lily had a ball", "Tim ran home"]);
        Assert.Equal(2, embeddings.Count);
        Assert.All(embeddings, e => Assert.Equal(64, e.Vector.Length));
        using var library = new LongLMEmbeddingGenerator(host.Model);
        AssertClose((await library.GenerateAsync(["Tim ran home"]))[0].Vector.ToArray(), embeddings[1].Vector.ToArray());
    }

    /// <summary>Equal up to JSON's float round trip (the server writes float32 values; the SDK may read them as doubles).</summary>
    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6f * Math.Max(1f, Math.Abs(expected[i])), $"[{i}] {expected[i]} vs {actual[i]}");
    }
}
#endif
