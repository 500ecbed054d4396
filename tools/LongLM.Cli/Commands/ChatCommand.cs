using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Chat;
using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm chat`: an interactive chat on stdin/stdout in the model's chat template, with the history kept in the KV
/// cache. One line is one user message; /reset, /save FILE, /load FILE, /exit. Under --lm-infinite it never runs out
/// of context and stays in constant memory. With stdin not a terminal it is scriptable: no prompt marks, replies
/// on stdout one per line, statistics on stderr.
/// </summary>
public static class ChatCommand
{
    /// <summary>Largest conversation file /load and --load read.</summary>
    public const int MaxConversationBytes = 64 << 20;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var system = new Option<string?>("--system", "-s") { Description = "System message that opens the conversation" };
        var template = new Option<string?>("--chat-template") { Description = "A Jinja chat template file to use instead of the model's (needed when the model has none)" };
        var templateName = new Option<string?>("--template") { Description = "A named template of the model (tokenizer_config.json's list: default, tool_use ...)" };
        var load = new Option<string?>("--load") { Description = "Start from a conversation saved with /save (a JSON array of messages)" };
        var prefillChunk = CommonOptions.PrefillChunk();
        var command = new Command("chat", "Chat with a model in its chat template; history stays in the KV cache (/reset, /save FILE, /load FILE, /exit)")
        {
            model, backend, threads, system, template, templateName, load, prefillChunk,
        };
        var sampling = new SamplingFlags(command);
        var attention = new AttentionFlags(command, topKAlias: false);
        command.SetAction(parse => io.Guard(() =>
        {
            using var loaded = io.LoadModel(parse.GetValue(model)!, parse.GetValue(backend)!, attention.Single(parse), parse.GetValue(threads));
            var lm = loaded.Model;
            var format = parse.GetValue(template) is { } file
                ? ChatFormat.WithTemplate(lm, CliIO.ReadTextFile(file, 1 << 20, "chat template"), file)
                : ChatFormat.ForModel(lm, parse.GetValue(templateName));
            var options = sampling.Options(parse, lm, parse.GetValue(prefillChunk));
            using var conversation = new ChatConversation(lm, format);
            var chat = new ChatLoop(io, conversation, options, parse.GetValue(system));
            if (parse.GetValue(load) is { } saved) chat.Load(saved);
            return chat.Run();
        }));
        return command;
    }

    /// <summary>The read-reply loop and its slash commands.</summary>
    private sealed class ChatLoop(CliIO io, ChatConversation conversation, Runtime.Inference.GenerationOptions options, string? system)
    {
        private JsonArray _messages = Fresh(system);

        public int Run()
        {
            bool interactive = !io.InRedirected;
            if (interactive) io.Err.WriteLine("longlm chat: one line per message; /reset, /save FILE, /load FILE, /exit");
            while (true)
            {
                if (interactive)
                {
                    io.Out.Write("> ");
                    io.Out.Flush();
                }
                string? line = io.In.ReadLine();
                if (line is null) return ExitCodes.Ok;
                if (line.StartsWith('/'))
                {
                    if (Command(line.Trim()) is int exit) return exit;
                    continue;
                }
                if (line.Length == 0) continue;
                Reply(line);
            }
        }

        /// <summary>A slash command; returns an exit code to end the chat.</summary>
        private int? Command(string line)
        {
            string[] parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            switch (parts[0])
            {
                case "/exit" or "/quit" or "/bye":
                    return ExitCodes.Ok;
                case "/reset":
                    _messages = Fresh(system);
                    conversation.Reset();
                    io.Err.WriteLine("longlm: conversation reset");
                    return null;
                case "/save" when parts.Length == 2 && parts[1].Length > 0:
                    File.WriteAllText(parts[1], _messages.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
                    io.Err.WriteLine($"longlm: saved {_messages.Count} messages to {parts[1]}");
                    return null;
                case "/load" when parts.Length == 2 && parts[1].Length > 0:
                    try
                    {
                        Load(parts[1]);
                    }
                    catch (Exception e) when (e is LongLMException or IOException or UnauthorizedAccessException)
                    {
                        io.Error(e.Message);
                    }
                    return null;
                default:
                    io.Error($"unknown command '{parts[0]}': /reset, /save FILE, /load FILE, /exit");
                    return null;
            }
        }

        /// <summary>Replaces the conversation with a saved one; the next reply runs it (the cache keeps what matches).</summary>
        public void Load(string path)
        {
            _messages = ChatMessagesJson.Parse(CliIO.ReadTextFile(path, MaxConversationBytes, "conversation"), path);
            io.Err.WriteLine($"longlm: loaded {_messages.Count} messages from {path}");
        }

        private void Reply(string text)
        {
            _messages.Add(new JsonObject { ["role"] = "user", ["content"] = text });
            var reply = new StringBuilder();
            var clock = Stopwatch.StartNew();
            foreach (var piece in Sync(conversation.ReplyAsync(_messages, null, options)))
            {
                reply.Append(piece);
                io.Out.Write(piece);
                io.Out.Flush();
            }
            io.Out.WriteLine();
            _messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply.ToString() });
            var turn = conversation.LastTurn!;
            double decode = turn.DecodeTime.TotalSeconds, prefill = turn.PrefillTime.TotalSeconds;
            int ran = turn.PromptTokens - turn.CachedPromptTokens;
            io.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{turn.GeneratedTokens} tokens, {Rate(turn.GeneratedTokens, decode)} tokens/s; prompt {ran} new of {turn.PromptTokens} ({Rate(ran, prefill)} tokens/s); conversation {conversation.Ids.Count} tokens; {Finish(turn)}; {clock.Elapsed.TotalSeconds:0.00} s; working set {Environment.WorkingSet / (1024.0 * 1024):0.0} MiB]"));
        }

        private static string Rate(int tokens, double seconds) => seconds > 0 ? (tokens / seconds).ToString("0.0", CultureInfo.InvariantCulture) : "-";

        private static string Finish(ChatTurnResult turn) => turn.Finish switch
        {
            Runtime.Inference.FinishReason.Stop => "stop",
            Runtime.Inference.FinishReason.Length => "length",
            Runtime.Inference.FinishReason.StopSequence => "stop string",
            _ => "cancelled",
        };

        private static JsonArray Fresh(string? system) =>
            system is null ? [] : [new JsonObject { ["role"] = "system", ["content"] = system }];

        /// <summary>The async reply stream consumed synchronously (the CLI has no UI thread to keep free).</summary>
        private static IEnumerable<string> Sync(IAsyncEnumerable<string> stream)
        {
            var e = stream.GetAsyncEnumerator();
            try
            {
                while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) yield return e.Current;
            }
            finally
            {
                e.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }
}
