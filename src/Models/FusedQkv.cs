using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Runtime;

namespace LongLM.Models;

/// <summary>
/// Splits a fused query/key/value projection (weight [3 * d, in], bias [3 * d]) into the separate q, k and v weights the
/// attention block reads, once, at load time. The layout of the 3 * d outputs differs by family:
/// <list type="bullet">
/// <item>stacked (MPT's Wqkv, torch <c>chunk(3)</c>): outputs [0, d) are q, [d, 2d) k, [2d, 3d) v. Each part is
/// contiguous, so it is a zero-copy view into the memory map.</item>
/// <item>per head (BLOOM's query_key_value, the output viewed as [heads, 3, head_dim]): output h * 3 * hd + t * hd + c is
/// part t (q, k, v) of head h. The parts are gathered into native memory that this object owns, in the stored dtype
/// (bytes are copied, so F16/BF16 values stay exactly as stored); the views live until <see cref="Dispose"/>.</item>
/// </list>
/// </summary>
internal sealed unsafe class FusedQkv : IDisposable
{
    private readonly List<nint> _allocations = [];

    /// <summary>MPT's layout: three views of <paramref name="fused"/>, no copy.</summary>
    public static (WeightView Q, WeightView K, WeightView V) Stacked(WeightView fused, int d)
    {
        var (outputs, unit) = Outputs(fused);
        if (outputs != 3 * d) throw new LongLMException($"tensor '{fused.Name}' has {outputs} outputs, config.json implies 3 x {d}");
        long bytes = unit * fused.DType.Size();
        WeightView Part(int t, string part) => Shaped(fused, fused.Pointer + (nint)(t * d * bytes), d, part);
        return (Part(0, "q"), Part(1, "k"), Part(2, "v"));
    }

    /// <summary>BLOOM's layout: q, k and v each gathered from <paramref name="heads"/> blocks of <paramref name="headDim"/> outputs.</summary>
    public (WeightView Q, WeightView K, WeightView V) PerHead(WeightView fused, int heads, int headDim)
    {
        var (outputs, unit) = Outputs(fused);
        if (outputs != 3 * heads * headDim) throw new LongLMException($"tensor '{fused.Name}' has {outputs} outputs, config.json implies 3 x {heads} heads x {headDim}");
        long block = headDim * unit * fused.DType.Size(); // bytes of one head's q (or k, or v)
        byte* source = (byte*)fused.Pointer;
        long size = heads * block;
        var parts = new WeightView[3];
        for (int t = 0; t < 3; t++)
        {
            byte* memory = (byte*)NativeMemory.AlignedAlloc((nuint)size, 64);
            _allocations.Add((nint)memory);
            for (int h = 0; h < heads; h++)
                Buffer.MemoryCopy(source + (3L * h + t) * block, memory + h * block, size - h * block, block);
            parts[t] = Shaped(fused, (nint)memory, heads * headDim, "qkv"[t].ToString());
        }
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>
    /// Number of outputs and elements per output: a weight [3d, in] has 3d rows of `in` elements; a bias (a 1-D
    /// tensor, viewed as [1, 3d]) has 3d single elements.
    /// </summary>
    private static (int Outputs, long Unit) Outputs(WeightView fused) => fused.Rows == 1 ? (fused.Cols, 1) : (fused.Rows, fused.Cols);

    private static WeightView Shaped(WeightView fused, nint pointer, int outputs, string part) => fused.Rows == 1
        ? new WeightView(pointer, fused.DType, 1, outputs, $"{fused.Name}[{part}]")
        : new WeightView(pointer, fused.DType, outputs, fused.Cols, $"{fused.Name}[{part}]");

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (nint memory in _allocations) NativeMemory.AlignedFree((void*)memory);
        _allocations.Clear();
    }
}
