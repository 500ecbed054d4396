using System.Runtime.CompilerServices;
using LongLM.Runtime.Sampling;
using LongLM.Runtime.Tokenization;

namespace LongLM.Runtime.Inference;

/// <summary>
/// A conversation with a model: its own sequence (KV cache and buffers), prefill and decode, sampling and streaming.
/// Sessions are independent: any number of them run on one model from as many threads. One session serves one
/// caller at a time (a concurrent second call is refused with <see cref="InvalidOperationException"/>).
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly ICausalLM _model;
    private readonly SequenceState _sequence;
    private readonly float[] _logits;
    private readonly int[] _one = new int[1];
    private readonly TokenHistory _history;
    private bool _disposed;
    // The last sampled id when generation stopped at MaxTokens: it belongs to the conversation but has not
    // been run yet, so the next prefill runs it first.
    private int? _pending;

    /// <summary>A session over <paramref name="model"/>; <paramref name="stopIds"/> are its default EOS ids.</summary>
    public InferenceSession(ICausalLM model, ModelTokenizer tokenizer, IReadOnlySet<int> stopIds)
    {
        _model = model;
        Tokenizer = tokenizer;
        DefaultStopIds = stopIds;
        _sequence = model.CreateSequence();
        _logits = new float[model.Config.VocabSize];
        // A bounded policy sees at most its window, so the history (repetition penalties) keeps that much: a stream
        // of any length stays in constant memory.
        var policy = model.Policy;
        _history = new TokenHistory(policy.BoundedLocal || policy.Mode == Attention.AttentionMode.Truncate ? Math.Max(1, policy.Window) : int.MaxValue);
    }

    /// <summary>The tokenizer that goes with the model.</summary>
    public ModelTokenizer Tokenizer { get; }

    /// <summary>The sequence state (KV cache and buffers).</summary>
    public SequenceState Sequence
    {
        get
        {
            ThrowIfDisposed();
            return _sequence;
        }
    }

    /// <summary>The KV cache (its TokenCount is the number of tokens run).</summary>
    public KvCache Cache => Sequence.Cache;

    /// <summary>Ids that end generation unless the options name others.</summary>
    public IReadOnlySet<int> DefaultStopIds { get; }

    /// <summary>
    /// The ids of the conversation so far (prompt and generated), for repetition penalties; under a bounded policy
    /// only the last L of them (<see cref="TokenHistory.Total"/> counts them all).
    /// </summary>
    public TokenHistory History
    {
        get
        {
            ThrowIfDisposed();
            return _history;
        }
    }

    /// <summary>Float32 logits of the last token run (what the next token is sampled from); zeros before the first call.</summary>
    public ReadOnlySpan<float> Logits
    {
        get
        {
            ThrowIfDisposed();
            return _logits;
        }
    }

    /// <summary>Forgets the conversation.</summary>
    public void Reset()
    {
        ThrowIfDisposed();
        _sequence.Cache.Clear();
        _sequence.TruncateContext?.Clear();
        _history.Clear();
        _pending = null;
    }

    /// <summary>
    /// Ids in the conversation: those run (<see cref="KvCache.TokenCount"/>) plus the last generated one when a
    /// generation stopped at its token budget (it runs first in the next call).
    /// </summary>
    public long ConversationLength => Sequence.TokenCount + (_pending is null ? 0 : 1);

    /// <summary>
    /// Keeps only the first <paramref name="length"/> ids of the conversation (a follow-up that diverged from what the
    /// cache holds: an edited message, a reply cut at a stop string). Returns false, changing nothing, when the cache can
    /// no longer go back that far (a bounded policy dropped the keys needed: it keeps at least L/2 tokens beyond the
    /// window, so a rewind of up to L/2 always succeeds; or truncate mode); then
    /// <see cref="Reset"/> and run the whole conversation again.
    /// </summary>
    public bool TryRewind(long length)
    {
        ThrowIfDisposed();
        long total = ConversationLength;
        if (length < 0 || length > total) throw new ArgumentOutOfRangeException(nameof(length), length, $"the conversation has {total} ids");
        if (length == total) return true;
        long run = _sequence.TokenCount;
        if (length < run)
        {
            if (_sequence.TruncateContext is not null || !_sequence.Cache.TryRewind(length)) return false;
            _history.RemoveLast(run - length);
        }
        _pending = null;
        return true;
    }

    /// <summary>
    /// Runs <paramref name="ids"/> as one logical forward call (in internal chunks of <paramref name="chunk"/>, which
    /// bound memory only) and returns the last token's logits. Cancellation is honoured between chunks; the chunks
    /// already run stay in the conversation.
    /// </summary>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> ids, int chunk = SequenceState.DefaultPrefillChunk, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        _sequence.PrefillChunk = chunk;
        if (_pending is int pending)
        {
            var withPending = new int[ids.Length + 1];
            withPending[0] = pending;
            ids.CopyTo(withPending.AsSpan(1));
            long before = _history.Total;
            try
            {
                Run(withPending, cancellationToken);
            }
            finally
            {
                // Run records what ran in the history: once the pending id ran, it is no longer pending.
                if (_history.Total > before) _pending = null;
            }
            return _logits;
        }
        if (ids.IsEmpty) throw new LongLMException("the prompt is empty: give at least one token (for example BOS)");
        Run(ids, cancellationToken);
        return _logits;
    }

    private void Run(ReadOnlySpan<int> ids, CancellationToken cancellationToken)
    {
        long before = _sequence.TokenCount;
        try
        {
            _model.Forward(ids, _sequence, _logits, LogitsRows.Last, cancellationToken);
        }
        finally
        {
            // The history follows what actually ran (all of it, or the chunks before a cancellation or an error).
            long ran = _sequence.TruncateContext is null ? _sequence.TokenCount - before : ids.Length;
            if (ran > 0) _history.AddRange(ids[..(int)Math.Min(ran, ids.Length)]);
        }
    }

    /// <summary>
    /// What the last generation on this session did (token counts, finish reason, timings); null before the first.
    /// Set when the generation ends, including when its consumer stops reading early.
    /// </summary>
    public GenerationResult? LastResult { get; private set; }

    /// <summary>
    /// Generates ids after <paramref name="promptIds"/> (which are appended to the conversation first). Stop ids end
    /// it; stop strings are text and apply only in the text APIs.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        var run = Start(promptIds, options, cancellationToken);
        return Decode(run, cancellationToken);
    }

    /// <summary>Validates, prefills the prompt and starts the clocks of one generation.</summary>
    private GenerationRun Start(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(promptIds);
        options.Validate();
        var run = new GenerationRun(options, new Sampler(options.Sampling, _model.Config.VocabSize), options.StopIds ?? DefaultStopIds,
            promptIds.Count, promptIds.Count + (_pending is null ? 0 : 1));
        LastResult = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Prefill(promptIds as int[] ?? promptIds.ToArray(), options.PrefillChunk, cancellationToken);
        run.PrefillTime = clock.Elapsed;
        return run;
    }

    private IEnumerable<int> Decode(GenerationRun run, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int produced = 0; produced < run.Options.MaxTokens; produced++)
            {
                ThrowIfDisposed();
                int next = run.Sampler.Sample(_logits, _history);
                if (run.StopIds.Contains(next))
                {
                    run.Finish = FinishReason.Stop;
                    yield break;
                }
                // Yield before running the token (streaming latency); until it runs it is pending, so a
                // consumer that stops early still leaves it in the conversation.
                _pending = next;
                run.Generated++;
                yield return next;
                if (run.Finish is not null) yield break;
                if (produced + 1 == run.Options.MaxTokens) break;
                cancellationToken.ThrowIfCancellationRequested();
                _one[0] = next;
                Run(_one, cancellationToken);
                _pending = null;
            }
            run.Finish ??= FinishReason.Length;
        }
        finally
        {
            LastResult = new GenerationResult(run.PromptTokens, run.PrefilledTokens, run.Generated, run.Finish ?? FinishReason.Cancelled,
                run.StopSequence, run.PrefillTime, clock.Elapsed);
        }
    }

    /// <summary>
    /// Streams the text of generated tokens. The prompt gets BOS when the tokenizer says so and the conversation is
    /// empty (a follow-up prompt continues it). The model runs on the thread pool, never on the caller's thread, and
    /// <paramref name="cancellationToken"/> stops it between prefill chunks and between tokens. Stop strings end the
    /// text before them; <see cref="LastResult"/> then says why it ended.
    /// </summary>
    public IAsyncEnumerable<string> GenerateTextAsync(string prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(prompt);
        bool fresh = _sequence.TokenCount == 0 && _pending is null;
        return GenerateTextAsync(Tokenizer.Encode(prompt, Tokenizer.AddBos && fresh), options, cancellationToken);
    }

    /// <summary>
    /// Streams the text generated after <paramref name="promptIds"/> (already encoded: a chat template's output, say),
    /// as <see cref="GenerateTextAsync(string, GenerationOptions, CancellationToken)"/> does.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(IReadOnlyList<int> promptIds, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var token in StreamAsync(promptIds, options, cancellationToken).ConfigureAwait(false))
        {
            if (token.Text.Length > 0) yield return token.Text;
        }
    }

    /// <summary>
    /// Streams every generated id with the text it completes (stop strings applied: text at and after a stop string
    /// never appears; the id that completed it is the last one). The model runs on the thread pool; see
    /// <see cref="LastResult"/> for why it ended. A final item with id -1 carries bytes the decoder still held.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> StreamAsync(IReadOnlyList<int> promptIds, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        options.Validate();
        var decoder = Tokenizer.CreateStreamingDecoder();
        var stops = new StopSequenceMatcher(options.StopSequences);
        var run = await Task.Run(() => Start(promptIds, options, cancellationToken), cancellationToken).ConfigureAwait(false);
        using var tokens = Decode(run, cancellationToken).GetEnumerator();
        while (true)
        {
            // Each step (one decode forward) runs on the pool; the consumer's context only sees the text.
            bool more = await Task.Run(tokens.MoveNext, cancellationToken).ConfigureAwait(false);
            if (!more) break;
            int id = tokens.Current;
            string piece = stops.Push(decoder.Push(id));
            if (stops.Matched is not null)
            {
                run.Finish = FinishReason.StopSequence;
                run.StopSequence = stops.Matched;
                // Ends the decode loop (it records the result) without running the token that completed the match.
                tokens.MoveNext();
            }
            yield return new GeneratedToken(id, piece);
            if (stops.Matched is not null) yield break;
        }
        string rest = stops.Push(decoder.Flush());
        rest += stops.Flush();
        if (stops.Matched is not null) LastResult = LastResult! with { Finish = FinishReason.StopSequence, StopSequence = stops.Matched };
        if (rest.Length > 0) yield return new GeneratedToken(-1, rest);
    }

    /// <summary>The mutable state of one generation.</summary>
    private sealed class GenerationRun(GenerationOptions options, Sampler sampler, IReadOnlySet<int> stopIds, int promptTokens, int prefilledTokens)
    {
        public GenerationOptions Options { get; } = options;
        public Sampler Sampler { get; } = sampler;
        public IReadOnlySet<int> StopIds { get; } = stopIds;
        public int PromptTokens { get; } = promptTokens;
        public int PrefilledTokens { get; } = prefilledTokens;
        public int Generated { get; set; }
        public FinishReason? Finish { get; set; }
        public string? StopSequence { get; set; }
        public TimeSpan PrefillTime { get; set; }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the sequence; a second call is a no-op and every other member then throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _sequence.Dispose();
    }
}
