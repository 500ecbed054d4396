using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using LongLM.Models;
using LongLM.Runtime.Inference;

namespace LongLM.Chat;

/// <summary>
/// A conversation whose KV cache survives between turns: each turn renders the whole conversation with the chat
/// template, and only what the cache does not hold yet is run. Under LM-Infinite (a bounded policy) a conversation
/// goes on for ever in constant memory.
/// </summary>
/// <remarks>
/// One turn at a time (a concurrent second turn is refused). How a turn reuses the cache:
/// <list type="number">
/// <item>when the new prompt text extends the text the cache holds (the previous prompt plus the reply as generated)
/// and the new part opens with a special token (the template's end-of-turn marker), only the new text is encoded and
/// run: its ids are then exactly those of the whole text's encoding;</item>
/// <item>otherwise the whole prompt is encoded and compared id by id with the cache, which is rewound to the common
/// prefix (an edited message, a reply the template reformats), or, when a bounded cache can no longer go back that
/// far, cleared and run again from the start.</item>
/// </list>
/// </remarks>
public sealed class ChatConversation : IDisposable
{
    private readonly InferenceSession _session;
    private readonly List<int> _ids = [];
    private readonly StringBuilder _text = new();
    private char? _escape;
    private int _busy;

    /// <summary>A new, empty conversation with <paramref name="model"/> in <paramref name="format"/>.</summary>
    public ChatConversation(LanguageModel model, ChatFormat format)
    {
        ArgumentNullException.ThrowIfNull(model);
        Format = format ?? throw new ArgumentNullException(nameof(format));
        _session = model.CreateSession();
    }

    /// <summary>The template and tokenizer.</summary>
    public ChatFormat Format { get; }

    /// <summary>The session underneath (KV cache, history).</summary>
    public InferenceSession Session => _session;

    /// <summary>The ids the cache holds, in order (prompts and replies; a reply's stop id is not among them).</summary>
    public IReadOnlyList<int> Ids => _ids;

    /// <summary>The text the cache holds: the rendered prompts and the replies as generated.</summary>
    public string Text => _text.ToString();

    /// <summary>What the last turn did; null before the first.</summary>
    public ChatTurnResult? LastTurn { get; private set; }

    /// <summary>
    /// Runs one turn: renders <paramref name="messages"/> (and <paramref name="tools"/>) with the generation prompt,
    /// brings the cache up to it and streams the reply. The reply is not added to <paramref name="messages"/>.
    /// </summary>
    public IAsyncEnumerable<string> ReplyAsync(JsonArray messages, JsonArray? tools, GenerationOptions options,
        CancellationToken cancellationToken = default) =>
        ReplyAsync(messages, tools, options, null, cancellationToken);

    /// <summary>
    /// <see cref="ReplyAsync(JsonArray, JsonArray?, GenerationOptions, CancellationToken)"/>, calling
    /// <paramref name="onToken"/> with every generated id before its text is yielded; while it runs,
    /// <see cref="InferenceSession.Logits"/> of <see cref="Session"/> holds the distribution the id was drawn from.
    /// </summary>
    public IAsyncEnumerable<string> ReplyAsync(JsonArray messages, JsonArray? tools, GenerationOptions options, Action<int>? onToken,
        CancellationToken cancellationToken = default) =>
        ReplyAsync(Render(messages, tools), options, onToken, cancellationToken);

    /// <summary>
    /// The conversation rendered with the generation prompt as this conversation renders it (keeping its escape
    /// character, so the new text can extend what the cache holds): render once, pick a slot by it, reply to it.
    /// </summary>
    public ChatPrompt Render(JsonArray messages, JsonArray? tools) => Format.Render(messages, tools, addGenerationPrompt: true, _escape);

    /// <summary>
    /// <paramref name="rendered"/> (the conversation rendered by <see cref="ChatFormat.Render"/>, to pick a conversation
    /// by it) when it marks escaped text as this conversation does, else the conversation rendered again its own way.
    /// </summary>
    public ChatPrompt Adopt(ChatPrompt rendered, JsonArray messages, JsonArray? tools) =>
        _escape is char own && own != rendered.Escape ? Render(messages, tools) : rendered;

    /// <summary>
    /// One turn on a prompt already rendered (<see cref="Render"/>); otherwise as
    /// <see cref="ReplyAsync(JsonArray, JsonArray?, GenerationOptions, Action{int}?, CancellationToken)"/>.
    /// </summary>
    public async IAsyncEnumerable<string> ReplyAsync(ChatPrompt prompt, GenerationOptions options, Action<int>? onToken = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (Interlocked.Exchange(ref _busy, 1) != 0) throw new InvalidOperationException("this conversation is already running a turn; one turn at a time");
        try
        {
            options.Validate();
            var (run, reused) = Prepare(prompt);
            var generated = new List<int>();
            var decoder = Format.Tokenizer.CreateStreamingDecoder();
            var turn = options with { StopIds = options.StopIds ?? Format.StopIds };
            try
            {
                await foreach (var token in _session.StreamAsync(run, turn, cancellationToken).ConfigureAwait(false))
                {
                    if (token.Id >= 0)
                    {
                        generated.Add(token.Id);
                        _text.Append(decoder.Push(token.Id));
                        onToken?.Invoke(token.Id);
                    }
                    if (token.Text.Length > 0) yield return token.Text;
                }
            }
            finally
            {
                _ids.AddRange(generated);
                _text.Append(decoder.Flush());
                var result = _session.LastResult;
                LastTurn = new ChatTurnResult(_ids.Count - generated.Count, reused, generated.Count,
                    result?.Finish ?? FinishReason.Cancelled, result?.StopSequence, result?.PrefillTime ?? default, result?.DecodeTime ?? default);
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Forgets the conversation (the cache keeps its buffers).</summary>
    public void Reset()
    {
        _session.Reset();
        _ids.Clear();
        _text.Clear();
        _escape = null;
    }

    /// <summary>
    /// How many leading characters of <paramref name="promptText"/> the cache already holds: a pool picks the
    /// conversation that shares the most with a new request.
    /// </summary>
    public int SharedPrefix(string promptText)
    {
        int n = Math.Min(promptText.Length, _text.Length), i = 0;
        foreach (var chunk in _text.GetChunks())
        {
            var span = chunk.Span;
            int j = 0;
            while (j < span.Length && i < n && span[j] == promptText[i]) { i++; j++; }
            if (j < span.Length) break;
        }
        return i;
    }

    /// <summary>Brings the cache to the prompt: returns the ids still to run and how many prompt ids were reused.</summary>
    private (int[] Run, int Reused) Prepare(ChatPrompt prompt)
    {
        int held = _ids.Count;
        // The new text alone encodes as it would within the whole only when a special token opens it (an end-of-turn
        // marker after the reply, in every real template); otherwise the whole prompt is encoded and compared.
        if (held > 0 && _escape == prompt.Escape && prompt.Text.Length > _text.Length && SharedPrefix(prompt.Text) == _text.Length
            && Format.Tokenizer.StartsWithSpecialToken(prompt.Text, _text.Length))
        {
            var rest = Format.Tokenizer.EncodeChat(prompt.Text[_text.Length..], prompt.Escape);
            if (rest.Length > 0 && _session.ConversationLength == held)
            {
                Append(prompt, rest);
                return (rest, held);
            }
        }

        var ids = Format.Encode(prompt);
        if (ids.Length == 0) throw new Runtime.LongLMException("the chat template rendered an empty prompt");
        int common = 0;
        while (common < held && common < ids.Length && _ids[common] == ids[common]) common++;
        // At least one id must run: its logits pick the first reply token.
        if (common == ids.Length) common--;
        if (_session.ConversationLength != held || !_session.TryRewind(common))
        {
            _session.Reset();
            common = 0;
        }
        _ids.RemoveRange(common, _ids.Count - common);
        _ids.AddRange(ids.AsSpan(common));
        _text.Clear().Append(prompt.Text);
        _escape = prompt.Escape;
        return (ids[common..], common);
    }

    private void Append(ChatPrompt prompt, int[] rest)
    {
        _ids.AddRange(rest);
        _text.Append(prompt.Text, _text.Length, prompt.Text.Length - _text.Length);
        _escape = prompt.Escape;
    }

    /// <summary>Releases the KV cache.</summary>
    public void Dispose() => _session.Dispose();
}

/// <summary>What one chat turn did.</summary>
/// <param name="PromptTokens">Ids of the whole rendered prompt (the conversation so far).</param>
/// <param name="CachedPromptTokens">Of those, how many the KV cache already held (not run again).</param>
/// <param name="GeneratedTokens">Ids of the reply.</param>
/// <param name="Finish">Why the reply ended.</param>
/// <param name="StopSequence">The stop string that ended it, if one did.</param>
/// <param name="PrefillTime">Time running the new prompt ids.</param>
/// <param name="DecodeTime">Time generating.</param>
public sealed record ChatTurnResult(int PromptTokens, int CachedPromptTokens, int GeneratedTokens, FinishReason Finish,
    string? StopSequence, TimeSpan PrefillTime, TimeSpan DecodeTime);
