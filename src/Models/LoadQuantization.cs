using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Kernels.Quant;
using LongLM.Runtime;

namespace LongLM.Models;

/// <summary>
/// Load-time quantization (<see cref="ModelOptions.Quantize"/>): which tensors are quantized, and the streaming
/// conversion. Every family's tensors pass through <see cref="WeightLoader.LoadWeight"/>, which asks this class, so
/// the rule lives here once. A tensor is quantized when it is a 2-D projection (more than one row: 1-D norms and
/// biases are viewed as [1, n]), its column count is a multiple of 32, it is stored F32/F16/BF16, and it is not an
/// embedding table, the output head (unless <see cref="ModelOptions.QuantizeOutput"/>) or a MoE router (llama.cpp
/// keeps ffn_gate_inp unquantized too: it is tiny and picks the experts).
/// </summary>
public sealed class LoadQuantization
{
    // Token-embedding tables of the families LongLM runs (HF names, after an optional "transformer." style prefix);
    // `longlm bench` counts them as one gathered row per token through IsEmbedding too. (No family loads a learned
    // position table: MPT's wpe.weight is refused at load.)
    private static readonly string[] EmbeddingSuffixes = ["embed_tokens.weight", "embed_in.weight", "word_embeddings.weight", "wte.weight"];
    // Untied output heads: HF's lm_head, GPT-NeoX's embed_out.
    private static readonly string[] HeadNames = ["lm_head.weight", "embed_out.weight"];
    // Mixtral's router: [num_local_experts, hidden].
    private const string RouterSuffix = "block_sparse_moe.gate.weight";

    private LoadQuantization(DType target, bool output, bool tiedEmbeddings)
    {
        Target = target;
        QuantizeOutput = output;
        TiedEmbeddings = tiedEmbeddings;
    }

    /// <summary>Q8_0 or Q4_0.</summary>
    public DType Target { get; }
    /// <summary>Whether the output head is quantized too.</summary>
    public bool QuantizeOutput { get; }
    /// <summary>Whether the head is the embedding table (then quantizing the head quantizes the lookup table as well).</summary>
    public bool TiedEmbeddings { get; }

    /// <summary>Whether <paramref name="tensorName"/> is a token-embedding table, looked up a row at a time.</summary>
    public static bool IsEmbedding(string tensorName) => EmbeddingSuffixes.Any(s => tensorName.EndsWith(s, StringComparison.Ordinal));

    /// <summary>The quantization <paramref name="options"/> ask for, or null when off.</summary>
    /// <exception cref="LongLMException">Quantize is not a quantized dtype.</exception>
    public static LoadQuantization? From(ModelOptions? options, bool tiedEmbeddings)
    {
        if (options?.Quantize is not { } target) return null;
        if (!target.IsQuantized()) throw new LongLMException($"quantize: {target} is not a quantized type (accepted: q8_0, q4_0)");
        return new LoadQuantization(target, options.QuantizeOutput, tiedEmbeddings);
    }

    /// <summary>Refuses a non-quantized target, or quantization on a backend without quantized kernels, before anything loads.</summary>
    /// <exception cref="LongLMException">Quantize is not Q8_0/Q4_0, or the backend cannot run quantized weights.</exception>
    public static void Check(ModelOptions? options, IBackend backend)
    {
        From(options, tiedEmbeddings: false);
        if (options?.Quantize is { } target && !backend.SupportsQuantizedWeights)
            throw new LongLMException($"--quantize {target.SafeTensorsName().ToLowerInvariant()}: backend '{backend.Name}' has no quantized kernels");
    }

    /// <summary>Whether <paramref name="view"/> is quantized under this rule.</summary>
    public bool Applies(WeightView view)
    {
        if (view.Rows < 2 || view.Cols % BlockQ8_0.BlockSize != 0) return false;
        if (view.DType is not (DType.F32 or DType.F16 or DType.BF16)) return false;
        string name = view.Name;
        if (name.EndsWith(RouterSuffix, StringComparison.Ordinal)) return false;
        if (HeadNames.Contains(name)) return QuantizeOutput;
        if (IsEmbedding(name)) return QuantizeOutput && TiedEmbeddings;
        return true;
    }

    /// <summary>
    /// Quantizes <paramref name="view"/> row by row into native memory of the quantized size (the caller frees
    /// <paramref name="memory"/> with <see cref="NativeMemory.AlignedFree"/>). The only scratch is one row of float32:
    /// the source is read in place from the memory map, never widened as a whole.
    /// </summary>
    public unsafe WeightView Quantize(WeightView view, out nint memory)
    {
        long rowBytes = Target.RowByteLength(view.Cols);
        byte* dst = (byte*)NativeMemory.AlignedAlloc((nuint)(rowBytes * view.Rows), 64);
        memory = (nint)dst;
        var scratch = view.DType == DType.F32 ? null : new float[view.Cols];
        for (int r = 0; r < view.Rows; r++)
        {
            ReadOnlySpan<float> row;
            if (scratch is null)
            {
                row = new ReadOnlySpan<float>((float*)view.Pointer + (long)r * view.Cols, view.Cols);
            }
            else
            {
                ElementConvert.ToSingle(view.RowBytes(r), view.DType, scratch);
                row = scratch;
            }
            // A NaN or infinity has no block scale (ggml would write one silently); the model folder is untrusted input.
            if (!float.IsFinite(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row)))
            {
                NativeMemory.AlignedFree(dst);
                memory = 0;
                throw new LongLMException($"{view.Name}: row {r} holds a NaN or infinity; it cannot be quantized to {Target.SafeTensorsName().ToLowerInvariant()}");
            }
            var target = new Span<byte>(dst + r * rowBytes, (int)rowBytes);
            if (Target == DType.Q8_0) BlockQ8_0.QuantizeRow(row, target);
            else BlockQ4_0.QuantizeRow(row, target);
        }
        return new WeightView(memory, Target, view.Rows, view.Cols, view.Name);
    }
}
