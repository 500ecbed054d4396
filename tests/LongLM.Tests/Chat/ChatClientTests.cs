using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace LongLM.Tests.Chat;

/// <summary>
/// <see cref="LongLMChatClient"/> as Microsoft.Extensions.AI consumers use it, on stories260K with TinyLlama-Chat's
/// template as the model's own (<see cref="ChatFixture"/>).
/// Expected replies come from the lower-level API on the same ids (session.Generate, greedy), expected logits from a
/// fresh one-call prefill of the whole conversation (LanguageModel.Logits, HF's model(input_ids)).
/// </summary>
public sealed class ChatClientTests
{
    private static string Stories => ChatFixture.Folder;
    private static string ChatMl => File.ReadAllText(ChatFixture.ChatMlPath);
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 12, Sampling = SamplingOptions.Greedy };

    private static LongLMChatClient Client(LanguageModel lm, int cached = 4) =>
        new(lm, new LongLMChatClientOptions { Defaults = Greedy, MaxCachedConversations = cached });

    private static string Expected(LanguageModel lm, ChatFormat format, JsonArray messages, int maxTokens)
    {
        var ids = format.Encode(format.Render(messages, null, addGenerationPrompt: true));
        using var session = lm.CreateSession();
        var generated = session.Generate(ids, Greedy with { MaxTokens = maxTokens, StopIds = format.StopIds }).ToArray();
        return lm.Tokenizer.Decode(generated);
    }

    [Fact]
    public async Task GetResponse_IsTheGreedyContinuationOfTheRenderedPrompt_WithUsageAndFinishReason()
    {
        using var lm = LanguageModel.Load(Stories);
        using var client = Client(lm);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")]);
        var messages = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = "Once upon a time" } };
        Assert.Equal(Expected(lm, client.Format, messages, 12), response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        int promptIds = client.Format.Encode(client.Format.Render(messages, null, true)).Length;
        Assert.Equal(promptIds, response.Usage!.InputTokenCount);
        Assert.Equal(12, response.Usage.OutputTokenCount);
        Assert.Equal(promptIds + 12, response.Usage.TotalTokenCount);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(Path.GetFileName(Stories), response.ModelId);
    }

    [Fact]
    public async Task Streaming_ConcatenatesToTheNonStreamingText_AndEndsWithUsage()
    {
        using var lm = LanguageModel.Load(Stories);
        using var client = Client(lm);
        ChatMessage[] chat = [new(ChatRole.System, "Tell a story."), new(ChatRole.User, "Lily had a ball")];
        var updates = await client.GetStreamingResponseAsync(chat).ToListAsync();
        var whole = await client.GetResponseAsync(chat);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count > 2);
        Assert.All(updates, u => Assert.Equal(updates[0].ResponseId, u.ResponseId));
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.Single(updates[^1].Contents.OfType<UsageContent>());
    }

    [Fact]
    public async Task FollowUpTurn_PrefillsOnlyNewTokens_AndItsLogitsEqualAFreshPrefillOfTheWholeConversation()
    {
        using var lm = LanguageModel.Load(Stories);
        var format = ChatFormat.ForModel(lm);
        using var conversation = new ChatConversation(lm, format);
        var messages = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = "Tim saw a dog" } };
        string reply = string.Concat(conversation.ReplyAsync(messages, null, Greedy).ToBlockingEnumerable());
        var first = conversation.LastTurn!;
        Assert.Equal(0, first.CachedPromptTokens);
        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = "What did the dog do?" });

        // MaxTokens 0: prefill the follow-up only, then compare the next-token logits.
        _ = conversation.ReplyAsync(messages, null, Greedy with { MaxTokens = 0 }).ToBlockingEnumerable().ToList();
        var second = conversation.LastTurn!;
        Assert.Equal(first.PromptTokens + first.GeneratedTokens, second.CachedPromptTokens);
        Assert.True(second.PromptTokens > second.CachedPromptTokens);
        // The reused ids are the whole conversation's encoding ...
        var whole = format.Encode(format.Render(messages, null, addGenerationPrompt: true));
        Assert.Equal(whole, conversation.Ids);
        // ... and the logits after the follow-up prefill are those of one fresh call on all of it.
        var expected = lm.Logits(whole)[^lm.Config.VocabSize..];
        var got = conversation.Session.Logits.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
    }

    [Fact]
    public void TextOnlyTurnBoundaries_FallBackToTheWholeEncoding_AndStillReuseTheCache()
    {
        // ChatML's markers are text for stories260K: nothing special separates a reply from the next turn, so the
        // conversation encodes the whole prompt and keeps the longest common id prefix of its cache.
        using var lm = LanguageModel.Load(Stories);
        var format = ChatFormat.WithTemplate(lm, ChatMl);
        using var conversation = new ChatConversation(lm, format);
        var messages = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = "Tim saw a dog" } };
        string reply = string.Concat(conversation.ReplyAsync(messages, null, Greedy).ToBlockingEnumerable());
        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = "What did the dog do?" });
        _ = conversation.ReplyAsync(messages, null, Greedy with { MaxTokens = 0 }).ToBlockingEnumerable().ToList();
        var whole = format.Encode(format.Render(messages, null, addGenerationPrompt: true));
        Assert.Equal(whole, conversation.Ids);
        Assert.True(conversation.LastTurn!.CachedPromptTokens > 0);
        var expected = lm.Logits(whole)[^lm.Config.VocabSize..];
        var got = conversation.Session.Logits.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
    }

    [Fact]
    public async Task Client_ReusesTheCachedConversation_AcrossCalls()
    {
        using var lm = LanguageModel.Load(Stories);
        using var client = Client(lm);
        List<ChatMessage> chat = [new(ChatRole.User, "The sun was hot")];
        var r1 = await client.GetResponseAsync(chat);
        chat.AddRange(r1.Messages);
        chat.Add(new ChatMessage(ChatRole.User, "Then what?"));
        var r2 = await client.GetResponseAsync(chat);
        Assert.Equal(0, r1.Usage!.CachedInputTokenCount);
        Assert.Equal(r1.Usage.InputTokenCount + r1.Usage.OutputTokenCount, r2.Usage!.CachedInputTokenCount);
        // Same reply as a client with no cache at all.
        using var cold = Client(lm, cached: 0);
        var r3 = await cold.GetResponseAsync(chat);
        Assert.Equal(r3.Text, r2.Text);
        Assert.Equal(0, r3.Usage!.CachedInputTokenCount);
    }

    [Fact]
    public async Task ChatOptions_MapToSampling_AndStopSequences()
    {
        using var lm = LanguageModel.Load(Stories);
        using var client = Client(lm);
        ChatMessage[] chat = [new(ChatRole.User, "Once upon a time")];
        var full = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30 });
        Assert.Equal(30, full.Usage!.OutputTokenCount);
        // A stop string from the middle of the greedy reply: the text ends right before it, finish reason stop.
        string stop = full.Text.Substring(full.Text.Length / 2, 4);
        int at = full.Text.IndexOf(stop, StringComparison.Ordinal);
        var cut = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, StopSequences = [stop] });
        Assert.Equal(full.Text[..at], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
        // Seeded sampling is reproducible; temperature 0 is greedy whatever the seed.
        var sampled1 = await client.GetResponseAsync(chat, new ChatOptions { Temperature = 1f, TopK = 20, TopP = 0.9f, Seed = 42 });
        var sampled2 = await client.GetResponseAsync(chat, new ChatOptions { Temperature = 1f, TopK = 20, TopP = 0.9f, Seed = 42 });
        Assert.Equal(sampled1.Text, sampled2.Text);
        var greedy = await client.GetResponseAsync(chat, new ChatOptions { Temperature = 0f, Seed = 7 });
        Assert.Equal(full.Text[..greedy.Text.Length], greedy.Text);
        // Out-of-range values are a typed error.
        await Assert.ThrowsAsync<LongLMException>(() => client.GetResponseAsync(chat, new ChatOptions { TopP = 0f }));
        await Assert.ThrowsAsync<LongLMException>(() => client.GetResponseAsync(chat, new ChatOptions { FrequencyPenalty = 5f }));
    }

    [Fact]
    public async Task BuilderPipeline_ComposesLoggingAndOptions()
    {
        using var lm = LanguageModel.Load(Stories);
        using var inner = Client(lm);
        var log = new ListLogger();
        using var factory = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Trace));
        using IChatClient client = new ChatClientBuilder(inner)
            .UseLogging(factory)
            .ConfigureOptions(o => o.MaxOutputTokens = 5)
            .Build();
        var response = await client.GetResponseAsync("Once upon a time");
        Assert.Equal(5, response.Usage!.OutputTokenCount);
        Assert.Contains(log.Messages, m => m.Contains("GetResponseAsync", StringComparison.Ordinal));
        Assert.Same(inner, client.GetService<LongLMChatClient>());
        Assert.Equal("LongLM", client.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task ConcurrentCalls_RunOnSeparateConversations_WithTheSameResults()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var client = Client(lm);
        string[] prompts = ["A cat", "A dog", "A bird", "A fish"];
        var sequential = new List<string>();
        foreach (var p in prompts) sequential.Add((await client.GetResponseAsync(p)).Text);
        var parallel = await Task.WhenAll(prompts.Select(p => Task.Run(() => client.GetResponseAsync(p))));
        Assert.Equal(sequential, parallel.Select(r => r.Text));
    }

    [Fact]
    public async Task Client_WithoutATemplate_IsATypedError_AndDisposedClientThrows()
    {
        using (var plain = LanguageModel.Load(Path.Combine(SharedData.Root, "models", "stories260K")))
            Assert.Throws<LongLMException>(() => new LongLMChatClient(plain));
        using var lm = LanguageModel.Load(Stories);
        var client = Client(lm);
        client.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync("x"));
    }

    /// <summary>Collects log lines.</summary>
    private sealed class ListLogger : ILoggerProvider, ILogger
    {
        public List<string> Messages { get; } = [];
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add(formatter(state, exception));
        }
        public void Dispose() { }
    }
}
