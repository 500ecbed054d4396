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

    /// <summary>Generates ids after <paramref name="promptIds"/> (which are appended to the conversation first).</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        options.Validate();
        var sampler = new Sampler(options.Sampling, _model.Config.VocabSize);
        var stop = options.StopIds ?? DefaultStopIds;
        Prefill(promptIds as int[] ?? promptIds.ToArray(), options.PrefillChunk, cancellationToken);
        return Decode(sampler, stop, options.MaxTokens, cancellationToken);
    }

    private IEnumerable<int> Decode(Sampler sampler, IReadOnlySet<int> stop, int maxTokens, CancellationToken cancellationToken)
    {
        for (int produced = 0; produced < maxTokens; produced++)
        {
            ThrowIfDisposed();
            int next = sampler.Sample(_logits, _history);
            if (stop.Contains(next)) yield break;
            // Yield before running the token (streaming latency); until it runs it is pending, so a
            // consumer that stops early still leaves it in the conversation.
            _pending = next;
            yield return next;
            if (produced + 1 == maxTokens) yield break;
            cancellationToken.ThrowIfCancellationRequested();
            _one[0] = next;
            Run(_one, cancellationToken);
            _pending = null;
        }
    }

    /// <summary>
    /// Streams the text of generated tokens. The prompt gets BOS when the tokenizer says so and the conversation is
    /// empty (a follow-up prompt continues it). The model runs on the thread pool, never on the caller's thread, and
    /// <paramref name="cancellationToken"/> stops it between prefill chunks and between tokens.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        options.Validate();
        bool fresh = _sequence.TokenCount == 0 && _pending is null;
        var ids = Tokenizer.Encode(prompt, Tokenizer.AddBos && fresh);
        var decoder = Tokenizer.CreateStreamingDecoder();
        using var tokens = await Task.Run(() => Generate(ids, options, cancellationToken).GetEnumerator(), cancellationToken).ConfigureAwait(false);
        while (true)
        {
            // Each step (one decode forward) runs on the pool; the consumer's context only sees the text.
            bool more = await Task.Run(tokens.MoveNext, cancellationToken).ConfigureAwait(false);
            if (!more) break;
            string piece = decoder.Push(tokens.Current);
            if (piece.Length > 0) yield return piece;
        }
        string rest = decoder.Flush();
        if (rest.Length > 0) yield return rest;
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
