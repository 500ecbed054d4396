using LongLM.Kernels;

namespace LongLM.Runtime.Inference;

/// <summary>
/// Keys (rotated) and values of every layer, [slot, kvHeads, headDim] per layer, on the backend. Slots grow by
/// doubling; <see cref="NextPosition"/> is the absolute (64-bit) position the next token will take.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IBackend _backend;
    private DeviceBuffer[] _keys;
    private DeviceBuffer[] _values;

    /// <summary>An empty cache for <paramref name="layers"/> layers of <paramref name="kvHeads"/> x <paramref name="headDim"/>.</summary>
    public KvCache(IBackend backend, int layers, int kvHeads, int headDim, int initialCapacity = 64)
    {
        _backend = backend;
        Layers = layers;
        KvDim = kvHeads * headDim;
        Capacity = Math.Max(1, initialCapacity);
        _keys = Enumerable.Range(0, layers).Select(_ => backend.Allocate((long)Capacity * KvDim)).ToArray();
        _values = Enumerable.Range(0, layers).Select(_ => backend.Allocate((long)Capacity * KvDim)).ToArray();
    }

    /// <summary>Number of layers.</summary>
    public int Layers { get; }
    /// <summary>Floats per slot: kvHeads * headDim.</summary>
    public int KvDim { get; }
    /// <summary>Slots allocated.</summary>
    public int Capacity { get; private set; }
    /// <summary>Slots filled.</summary>
    public int Length { get; private set; }
    /// <summary>Absolute position of the next token.</summary>
    public long NextPosition { get; private set; }

    /// <summary>Keys of <paramref name="layer"/>.</summary>
    public DeviceBuffer Keys(int layer) => _keys[layer];
    /// <summary>Values of <paramref name="layer"/>.</summary>
    public DeviceBuffer Values(int layer) => _values[layer];

    /// <summary>Makes room for <paramref name="extra"/> more slots, doubling to keep appends amortised O(1).</summary>
    public void Reserve(int extra)
    {
        long needed = (long)Length + extra;
        if (needed <= Capacity) return;
        long capacity = Math.Max(needed, 2L * Capacity);
        if (capacity * KvDim > int.MaxValue) capacity = Math.Max(needed, int.MaxValue / KvDim);
        if (needed * KvDim > int.MaxValue)
            throw new LongLMException($"the KV cache cannot hold {needed} tokens ({KvDim} floats each); use a bounded attention policy for longer streams");
        for (int l = 0; l < Layers; l++)
        {
            _keys[l] = Grow(_keys[l], capacity);
            _values[l] = Grow(_values[l], capacity);
        }
        Capacity = (int)capacity;
    }

    /// <summary>Records that <paramref name="count"/> tokens were written after the filled slots.</summary>
    public void Advance(int count)
    {
        if (Length + count > Capacity) throw new InvalidOperationException("Reserve before writing to the cache");
        Length += count;
        NextPosition += count;
    }

    /// <summary>Forgets every token.</summary>
    public void Clear()
    {
        Length = 0;
        NextPosition = 0;
    }

    private DeviceBuffer Grow(DeviceBuffer old, long capacity)
    {
        var buffer = _backend.Allocate(capacity * KvDim);
        if (Length > 0) _backend.Copy(old, 0, buffer, 0, (long)Length * KvDim);
        old.Dispose();
        return buffer;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var b in _keys) b.Dispose();
        foreach (var b in _values) b.Dispose();
    }
}
