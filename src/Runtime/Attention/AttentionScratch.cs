using LongLM.Kernels;

namespace LongLM.Runtime.Attention;

/// <summary>
/// The per-sequence working state of an <see cref="AttentionBlock"/>: cos/sin tables of the current chunk, the
/// ceiling and top-k query copies, the top-k extras, and what <see cref="AttentionBlock.Begin"/> decided for the
/// chunk. One per sequence, so sequences on one model never share a buffer; sized for the largest chunk so far.
/// </summary>
public sealed class AttentionScratch : IDisposable
{
    private readonly IBackend _backend;
    private readonly int _pairs2, _qDim, _heads, _topK;
    private bool _disposed;

    internal AttentionScratch(IBackend backend, int rotaryDim, int heads, int headDim, int topK)
    {
        _backend = backend;
        _pairs2 = Math.Max(2, rotaryDim / 2 * 2);
        _heads = heads;
        _qDim = heads * headDim;
        _topK = topK;
    }

    internal int Rows { get; private set; }
    internal DeviceBuffer CosSin { get; private set; } = null!;
    internal DeviceBuffer CosSinFar { get; private set; } = null!;
    internal DeviceBuffer CosSinTopK { get; private set; } = null!;
    internal DeviceBuffer FarQuery { get; private set; } = null!;
    internal DeviceBuffer TopKQuery { get; private set; } = null!;
    internal DeviceBuffer ExtraLogits { get; private set; } = null!;
    internal DeviceBuffer ExtraValues { get; private set; } = null!;
    /// <summary>Host staging for cos/sin tables ([rows, rotaryDim/2, 2]), reused so a decode step allocates nothing.</summary>
    internal float[] Table { get; private set; } = [];
    /// <summary>The chunk in flight (set by Begin, read by Run).</summary>
    internal AttentionBlock.Call Call { get; set; }

    /// <summary>Floats held on the backend (for memory reports).</summary>
    public long AllocatedFloats => Rows == 0 ? 0 : 2L * Rows * _pairs2 + _pairs2 + (Rows + 1L) * _qDim + Math.Max(1, (long)_heads * _topK) + Math.Max(1, (long)_qDim * _topK);

    internal void EnsureRows(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (rows <= Rows) return;
        Free();
        Rows = rows;
        CosSin = _backend.Allocate(rows * (long)_pairs2);
        CosSinFar = _backend.Allocate(rows * (long)_pairs2);
        CosSinTopK = _backend.Allocate(_pairs2);
        FarQuery = _backend.Allocate(rows * (long)_qDim);
        TopKQuery = _backend.Allocate(_qDim);
        ExtraLogits = _backend.Allocate(Math.Max(1, (long)_heads * _topK));
        ExtraValues = _backend.Allocate(Math.Max(1, (long)_qDim * _topK));
        Table = new float[rows * _pairs2];
    }

    private void Free()
    {
        if (Rows == 0) return;
        foreach (var buffer in new[] { CosSin, CosSinFar, CosSinTopK, FarQuery, TopKQuery, ExtraLogits, ExtraValues }) buffer.Dispose();
        Rows = 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Free();
    }
}
