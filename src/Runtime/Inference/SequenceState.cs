using LongLM.Runtime.Attention;

namespace LongLM.Runtime.Inference;

/// <summary>
/// Everything that changes while one token sequence runs on a model: its KV cache, activation workspace and
/// attention working buffers (and, under <see cref="AttentionMode.Truncate"/>, the ids of its context). The model
/// holds only immutable weights and tables, so any number of sequences run on one model from as many threads.
/// A sequence serves one call at a time; a second concurrent call on the same sequence is refused, not interleaved.
/// </summary>
public sealed class SequenceState : IDisposable
{
    /// <summary>Default internal chunk: prompt tokens per pass through the layers.</summary>
    public const int DefaultPrefillChunk = 512;
    /// <summary>Largest internal chunk accepted (activations grow linearly with it).</summary>
    public const int MaxPrefillChunk = 1 << 16;

    private readonly object _gate = new();
    private bool _busy, _disposed;
    private int _prefillChunk = DefaultPrefillChunk;

    /// <summary>A sequence of <paramref name="model"/> over the given state (models create it: <see cref="ICausalLM.CreateSequence"/>).</summary>
    public SequenceState(ICausalLM model, KvCache cache, DecoderWorkspace workspace, AttentionScratch attention)
    {
        Model = model;
        Cache = cache;
        Workspace = workspace;
        Attention = attention;
        if (model.Policy.Mode == AttentionMode.Truncate) TruncateContext = new TokenHistory(model.Policy.Window);
    }

    /// <summary>The model the sequence belongs to.</summary>
    public ICausalLM Model { get; }
    /// <summary>Keys and values seen so far.</summary>
    public KvCache Cache { get; }
    /// <summary>Activation buffers.</summary>
    public DecoderWorkspace Workspace { get; }
    /// <summary>Attention working buffers.</summary>
    public AttentionScratch Attention { get; }
    /// <summary>Under truncate: the last L ids, re-run from position 0 when a call overflows the window.</summary>
    public TokenHistory? TruncateContext { get; }

    /// <summary>Tokens in the cache.</summary>
    public long TokenCount => Cache.TokenCount;

    /// <summary>
    /// Tokens per internal pass through the layers (memory only: a logical call's results do not depend on it).
    /// </summary>
    public int PrefillChunk
    {
        get => _prefillChunk;
        set => _prefillChunk = value is > 0 and <= MaxPrefillChunk
            ? value
            : throw new LongLMException($"prefill chunk must be in [1, {MaxPrefillChunk}], got {value}");
    }

    /// <summary>Bytes held on the backend: KV cache, workspace and attention buffers.</summary>
    public long AllocatedBytes => 4 * (Cache.AllocatedFloats + Workspace.AllocatedFloats + Attention.AllocatedFloats);

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>Marks the sequence busy for one call (models call this); dispose the result to end the call.</summary>
    /// <exception cref="ObjectDisposedException">The sequence was disposed.</exception>
    /// <exception cref="InvalidOperationException">Another call is running on the sequence.</exception>
    public CallScope BeginCall()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_busy)
                throw new InvalidOperationException("this sequence is already running a call on another thread; a sequence serves one call at a time (create one sequence or session per thread)");
            _busy = true;
        }
        return new CallScope(this);
    }

    private void EndCall()
    {
        lock (_gate)
        {
            _busy = false;
            if (_disposed) Free();
        }
    }

    /// <summary>Ends a call begun by <see cref="BeginCall"/>.</summary>
    public readonly struct CallScope : IDisposable
    {
        private readonly SequenceState _owner;
        internal CallScope(SequenceState owner) => _owner = owner;
        /// <inheritdoc />
        public void Dispose() => _owner?.EndCall();
    }

    /// <summary>Releases the buffers (after the call in flight, if any); a second call is a no-op.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (!_busy) Free();
        }
    }

    private void Free()
    {
        Cache.Dispose();
        Workspace.Dispose();
        Attention.Dispose();
    }
}
