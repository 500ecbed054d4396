using LongLM.Kernels;
using LongLM.Runtime.Attention;

namespace LongLM.Runtime.Inference;

/// <summary>
/// Per-layer keys and values on the backend, shaped by the attention policy (algorithms.md 2.7, "recommended
/// runtime design"):
/// <list type="bullet">
/// <item>local store: rotated keys and values of recent positions [LocalFirstPosition, NextPosition); unbounded for
/// vanilla attention, the last L-1 plus the current chunk under Lambda or a window;</item>
/// <item>far store: keys (raw, to be read by the query rotated to D) and values of the stream's first positions:
/// G of them under Lambda, all of them for ceiling-only or top-k.</item>
/// </list>
/// Positions are absolute and 64-bit; memory stays constant for any stream length when the policy is bounded.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IBackend _backend;
    private readonly Store _local;
    private readonly Store? _rawLocal;
    private readonly Store? _far;

    /// <summary>
    /// An empty cache whose first token will sit at <paramref name="firstPosition"/>; <paramref name="keepRawLocalKeys"/>
    /// keeps un-rotated copies of the local keys so they can be re-rotated when the frequencies change (CLEX, 3.4).
    /// </summary>
    public KvCache(IBackend backend, int layers, int kvHeads, int headDim, AttentionPolicy policy, long firstPosition = 0, bool keepRawLocalKeys = false)
    {
        if (firstPosition < 0) throw new ArgumentOutOfRangeException(nameof(firstPosition));
        _backend = backend;
        Policy = policy;
        Layers = layers;
        KvDim = kvHeads * headDim;
        FirstPosition = NextPosition = LocalFirstPosition = firstPosition;
        _local = new Store(backend, layers, KvDim, 64);
        if (keepRawLocalKeys) _rawLocal = new Store(backend, layers, KvDim, 64, withValues: false);
        if (policy.HasFarKeys) _far = new Store(backend, layers, KvDim, policy.KeepsAllFarKeys ? 64 : Math.Max(1, policy.Global));
    }

    /// <summary>The policy the cache was shaped for.</summary>
    public AttentionPolicy Policy { get; }
    /// <summary>Layers.</summary>
    public int Layers { get; }
    /// <summary>Floats per token per layer: kvHeads * headDim.</summary>
    public int KvDim { get; }
    /// <summary>Position of the stream's first token.</summary>
    public long FirstPosition { get; }
    /// <summary>Position the next token takes.</summary>
    public long NextPosition { get; private set; }
    /// <summary>Tokens seen so far.</summary>
    public long TokenCount => NextPosition - FirstPosition;
    /// <summary>Position of local slot 0.</summary>
    public long LocalFirstPosition { get; private set; }
    /// <summary>Local slots filled.</summary>
    public int LocalCount => (int)(NextPosition - LocalFirstPosition);
    /// <summary>Far slots filled (positions FirstPosition .. FirstPosition + FarCount - 1).</summary>
    public int FarCount { get; private set; }
    /// <summary>Floats held on the backend (for memory reports).</summary>
    public long AllocatedFloats => _local.AllocatedFloats + (_rawLocal?.AllocatedFloats ?? 0) + (_far?.AllocatedFloats ?? 0);

    /// <summary>Local rotated keys of a layer, [slot, kvHeads, headDim].</summary>
    public DeviceBuffer LocalKeys(int layer) => _local.Keys[layer];
    /// <summary>Un-rotated copies of the local keys (null unless the cache was made to keep them).</summary>
    public DeviceBuffer? RawLocalKeys(int layer) => _rawLocal?.Keys[layer];
    /// <summary>The inverse frequencies the local keys are rotated with (set by the attention block).</summary>
    public double[]? RotatedWith { get; set; }
    /// <summary>How many times every cached key was re-rotated because the frequencies changed (CLEX's t; O(cache) each).</summary>
    public int ReRotations { get; internal set; }
    /// <summary>Local values of a layer.</summary>
    public DeviceBuffer LocalValues(int layer) => _local.Values[layer];
    /// <summary>Far keys of a layer (raw unless the policy has no ceiling).</summary>
    public DeviceBuffer? FarKeys(int layer) => _far?.Keys[layer];
    /// <summary>Far values of a layer.</summary>
    public DeviceBuffer? FarValues(int layer) => _far?.Values[layer];

    /// <summary>Where the current chunk's tokens go: local slot of its first token, and how many of its first tokens the far store takes.</summary>
    public (int LocalSlot, int FarSlot, int FarTake) Pending { get; private set; }

    /// <summary>
    /// Prepares to append <paramref name="count"/> tokens: under a bounded policy, drops local keys no query of
    /// this chunk or later can see (all but the last L-1), then makes room.
    /// </summary>
    public void BeginAppend(int count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (Policy.BoundedLocal)
        {
            // The window needs the last L-1; L/2 more stay so a conversation can rewind that far (a chat reply
            // re-encoded differently, a stop string) without starting over. Keys past the window are masked by
            // position, so keeping them changes no number, and the buffers' capacity (2L) is unchanged.
            int keep = (int)Math.Min(LocalCount, Math.Max(0, Policy.Window - 1L) + Policy.Window / 2);
            if (LocalCount > keep && LocalCount + count > _local.Capacity)
            {
                _local.KeepLast(LocalCount, keep, Math.Max(2L * Policy.Window, keep + count));
                _rawLocal?.KeepLast(LocalCount, keep, Math.Max(2L * Policy.Window, keep + count));
                LocalFirstPosition = NextPosition - keep;
            }
        }
        _local.Reserve(LocalCount, LocalCount + (long)count);
        _rawLocal?.Reserve(LocalCount, LocalCount + (long)count);
        int farTake = 0;
        if (_far is not null)
        {
            long farLimit = Policy.KeepsAllFarKeys ? long.MaxValue : Policy.Global;
            farTake = (int)Math.Clamp(farLimit - FarCount, 0, count);
            _far.Reserve(FarCount, FarCount + (long)farTake);
        }
        Pending = (LocalCount, FarCount, farTake);
    }

    /// <summary>
    /// Throws the cache's capacity error now if a call of <paramref name="count"/> more tokens, run in chunks of at
    /// most <paramref name="chunk"/>, could not be held, so it fails before its first chunk rather than half-way through.
    /// </summary>
    public void CheckCanAppend(long count, int chunk)
    {
        long local = Policy.BoundedLocal ? Math.Max(2L * Policy.Window, Policy.Window - 1L + Math.Min(count, chunk)) : LocalCount + count;
        long far = _far is not null && Policy.KeepsAllFarKeys ? FarCount + count : 0;
        long most = Math.Max(local, far);
        if (most * KvDim > int.MaxValue)
            throw new LongLMException($"the KV cache cannot hold {most} tokens of {KvDim} floats per layer; use --lm-infinite (bounded memory) for longer streams");
    }

    /// <summary>Forgets every token (buffers keep their capacity); the next token sits at <see cref="FirstPosition"/> again.</summary>
    public void Clear()
    {
        NextPosition = LocalFirstPosition = FirstPosition;
        FarCount = 0;
        RotatedWith = null;
        Pending = default;
    }

    /// <summary>
    /// Forgets every token after the first <paramref name="tokenCount"/>, when the cache still holds what the next
    /// token would attend to: always for an unbounded cache; under a bounded policy only while the last L-1 kept
    /// tokens are still in the local store. Returns false (and changes nothing) otherwise; the caller then starts
    /// over from an empty cache.
    /// </summary>
    public bool TryRewind(long tokenCount)
    {
        if (tokenCount < 0 || tokenCount > TokenCount) throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, $"the cache holds {TokenCount} tokens");
        if (Pending != default) throw new InvalidOperationException("a chunk is being appended");
        long needed = FirstPosition + (Policy.BoundedLocal ? Math.Max(0, tokenCount - Math.Max(0, Policy.Window - 1L)) : 0);
        if (LocalFirstPosition > needed) return false;
        NextPosition = FirstPosition + tokenCount;
        if (FarCount > tokenCount) FarCount = (int)tokenCount;
        return true;
    }

    /// <summary>Records that the prepared chunk was written to every layer.</summary>
    public void EndAppend(int count)
    {
        FarCount += Pending.FarTake;
        NextPosition += count;
        Pending = default;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _local.Dispose();
        _rawLocal?.Dispose();
        _far?.Dispose();
    }

    /// <summary>Keys (and values) of every layer in growable backend buffers.</summary>
    private sealed class Store(IBackend backend, int layers, int kvDim, long initialCapacity, bool withValues = true) : IDisposable
    {
        public DeviceBuffer[] Keys { get; } = Enumerable.Range(0, layers).Select(_ => backend.Allocate(initialCapacity * kvDim)).ToArray();
        public DeviceBuffer[] Values { get; } = withValues ? Enumerable.Range(0, layers).Select(_ => backend.Allocate(initialCapacity * kvDim)).ToArray() : [];
        public long Capacity { get; private set; } = initialCapacity;
        public long AllocatedFloats => (Values.Length > 0 ? 2L : 1L) * layers * Capacity * kvDim * (_spareKeys is { Length: > 0 } s && s[0] is not null ? 2 : 1);

        /// <summary>Grows (doubling) to hold <paramref name="needed"/> slots, keeping the first <paramref name="used"/>.</summary>
        public void Reserve(long used, long needed)
        {
            if (needed <= Capacity) return;
            if (needed * kvDim > int.MaxValue)
                throw new LongLMException($"the KV cache cannot hold {needed} tokens of {kvDim} floats per layer; use --lm-infinite (bounded memory) for longer streams");
            Replace(used, 0, Math.Min(Math.Max(needed, 2 * Capacity), int.MaxValue / kvDim));
        }

        /// <summary>Moves the last <paramref name="keep"/> of <paramref name="used"/> slots to the front of buffers of <paramref name="capacity"/>.</summary>
        public void KeepLast(long used, long keep, long capacity) => Replace(keep, used - keep, Math.Max(capacity, Capacity));

        // Buffers of the current capacity left over from the last move: a bounded cache moves its window to the
        // front every L tokens, and ping-ponging between two sets keeps that move free of allocation.
        private DeviceBuffer[]? _spareKeys, _spareValues;

        private void Replace(long count, long from, long capacity)
        {
            bool reuse = capacity == Capacity;
            if (!reuse) DisposeSpares();
            _spareKeys ??= new DeviceBuffer[layers];
            _spareValues ??= new DeviceBuffer[layers];
            for (int l = 0; l < layers; l++)
            {
                Keys[l] = Moved(Keys[l], ref _spareKeys[l], count, from, capacity, reuse);
                if (Values.Length > 0) Values[l] = Moved(Values[l], ref _spareValues[l], count, from, capacity, reuse);
            }
            Capacity = capacity;
        }

        private DeviceBuffer Moved(DeviceBuffer old, ref DeviceBuffer spare, long count, long from, long capacity, bool reuse)
        {
            // Another buffer rather than an in-place move: device copies between overlapping ranges are undefined.
            var buffer = reuse && spare is not null ? spare : backend.Allocate(capacity * kvDim);
            if (count > 0) backend.Copy(old, from * kvDim, buffer, 0, count * kvDim);
            if (reuse) spare = old;
            else old.Dispose();
            return buffer;
        }

        private void DisposeSpares()
        {
            foreach (var b in _spareKeys ?? []) b?.Dispose();
            foreach (var b in _spareValues ?? []) b?.Dispose();
            _spareKeys = _spareValues = null;
        }

        public void Dispose()
        {
            DisposeSpares();
            foreach (var b in Keys) b.Dispose();
            foreach (var b in Values) b.Dispose();
        }
    }
}
