using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Chat;

/// <summary>
/// `longlm chat` scripted through stdin on stories260K with TinyLlama-Chat's template (<see cref="ChatFixture"/>). Expected
/// replies come from <see cref="ChatConversation"/> driven directly with the same messages (the library path the CLI
/// wraps), and the saved conversation must load back to the same state.
/// </summary>
public sealed class ChatCliTests
{
    private static string Stories => ChatFixture.Folder;

    private static (int Exit, string Out, string Err) Chat(string input, params string[] extra)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] args = ["chat", "--model", Stories, "--temperature", "0", "--max-tokens", "10", .. extra];
        int exit = LongLM.Cli.Program.Run(args, new StringReader(input), true, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static List<string> LibraryReplies(string[] userLines, int maxTokens = 10)
    {
        using var lm = LanguageModel.Load(Stories);
        using var conversation = new ChatConversation(lm, ChatFormat.ForModel(lm));
        var messages = new JsonArray();
        var replies = new List<string>();
        foreach (var line in userLines)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = line });
            string reply = string.Concat(conversation.ReplyAsync(messages, null, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy }).ToBlockingEnumerable());
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply });
            replies.Add(reply);
        }
        return replies;
    }

    [Fact]
    public void ScriptedChat_PrintsOneReplyPerLine_AndStatsOnStderr()
    {
        var (exit, stdout, stderr) = Chat("Once upon a time\nThe dog ran\n");
        Assert.Equal(0, exit);
        // Each reply is followed by one newline (a reply may hold newlines of its own).
        var expected = LibraryReplies(["Once upon a time", "The dog ran"]);
        Assert.Equal(string.Concat(expected.Select(r => r + "\n")), stdout);
        var stats = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, stats.Length);
        Assert.All(stats, s => Assert.Matches(@"^\[10 tokens, [0-9.]+ tokens/s; prompt \d+ new of \d+ .*conversation \d+ tokens; length; .*working set [0-9.]+ MiB\]$", s));
        Assert.DoesNotContain("> ", stdout, StringComparison.Ordinal); // no prompt marks when stdin is a script
    }

    [Fact]
    public void SaveResetLoad_RestoresTheConversation()
    {
        using var dir = new TempDirectory();
        string saved = Path.Combine(dir.Path, "chat.json");
        var (exit, stdout, stderr) = Chat($"Once upon a time\n/save {saved}\n/reset\nThe dog ran\n/load {saved}\nThe dog ran\n/bogus\n/exit\nnot read\n");
        Assert.Equal(0, exit);
        var saveThenNew = LibraryReplies(["The dog ran"]);
        var continued = LibraryReplies(["Once upon a time", "The dog ran"]);
        // The first reply, then after /reset a fresh conversation's, then after /load the saved one continued.
        Assert.Equal(continued[0] + "\n" + saveThenNew[0] + "\n" + continued[1] + "\n", stdout);
        var file = JsonNode.Parse(File.ReadAllText(saved))!.AsArray();
        Assert.Equal(2, file.Count);
        Assert.Equal("assistant", file[1]!["role"]!.GetValue<string>());
        Assert.Contains("unknown command '/bogus'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("not read", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void SystemMessage_OpensTheConversation()
    {
        var (exit, stdout, _) = Chat("Hi\n", "--system", "You tell stories.");
        Assert.Equal(0, exit);
        using var lm = LanguageModel.Load(Stories);
        var format = ChatFormat.ForModel(lm);
        using var conversation = new ChatConversation(lm, format);
        var messages = new JsonArray
        {
            new JsonObject { ["role"] = "system", ["content"] = "You tell stories." },
            new JsonObject { ["role"] = "user", ["content"] = "Hi" },
        };
        string reply = string.Concat(conversation.ReplyAsync(messages, null, new GenerationOptions { MaxTokens = 10, Sampling = SamplingOptions.Greedy }).ToBlockingEnumerable());
        Assert.Equal(reply + "\n", stdout);
    }

    [Theory]
    [InlineData("--chat-template", "/nonexistent/t.jinja")]
    [InlineData("--load", "/nonexistent/c.json")]
    public void BadFiles_AreOneErrorAndExitTwo(string option, string value)
    {
        var (exit, _, stderr) = Chat("Hi\n", option, value);
        Assert.Equal(2, exit);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("longlm: error:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelWithoutTemplate_AndNoneGiven_IsOneError()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = LongLM.Cli.Program.Run(["chat", "--model", ModelFolderCopy.Stories260K], new StringReader("Hi\n"), true, stdout, stderr);
        Assert.Equal(2, exit);
        Assert.Contains("no chat template", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void LongChat_UnderLmInfinite_KeepsConstantMemory_AndReusesTheCache()
    {
        // A 64-token window makes the cache wrap many times over a few thousand tokens; the bytes held must not move
        // once the window is full, and every turn after the first must run only its new tokens.
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var conversation = new ChatConversation(lm, ChatFormat.ForModel(lm));
        var messages = new JsonArray();
        var options = new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Temperature = 0.8f, Seed = 3 } };
        long bytesAt1000 = 0;
        int turns = 0, resets = 0;
        while (conversation.Ids.Count < 4000)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"What did the cat do on day {turns}?" });
            string reply = string.Concat(conversation.ReplyAsync(messages, null, options).ToBlockingEnumerable());
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply });
            var turn = conversation.LastTurn!;
            if (turns > 0 && turn.CachedPromptTokens == 0) resets++;
            if (bytesAt1000 == 0 && conversation.Ids.Count >= 1000) bytesAt1000 = conversation.Session.Sequence.AllocatedBytes;
            turns++;
        }
        Assert.Equal(bytesAt1000, conversation.Session.Sequence.AllocatedBytes);
        Assert.Equal(0, resets);
        Assert.True(conversation.Session.History.Count <= 64);
    }
}
