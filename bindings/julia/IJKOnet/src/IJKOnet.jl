"""
    IJKOnet

Julia interface to the ijkonet library (learning population dynamics from snapshots) through its
C ABI (`include/ijkonet.h`). Points are `n × d` matrices, one row per cell, as in the R package;
they are handed to the library transposed (a `d × n` Julia matrix has the row-major layout the
library expects).

The library is looked up in `ENV["IJKONET_LIB"]` (a path to `libijkonet.so`) each time the package is
loaded (in `__init__`), otherwise in the crate's `target/release`, otherwise on the system library path.

`fit!` and `predict` extend the generic functions of StatsAPI.jl (shared with StatsBase, GLM, MLJ
models...), so `using IJKOnet` next to those packages does not clash. `simulate` and `save`, whose
names other packages use for unrelated functions, are not exported: call `IJKOnet.simulate` and
`IJKOnet.save`. `gradient` (Zygote, ForwardDiff) is exported as `grad_potential`.
"""
module IJKOnet

using Libdl
import StatsAPI: fit!, predict

export Model, IJKOnetError, Progress, fit!, predict, potential, grad_potential, load_model,
    snapshot_times, theta3, state, dimension, rollout, baseline_predict, evaluate_step, wasserstein1,
    interaction_field, epochs_done, model_info

function _find_library()
    haskey(ENV, "IJKONET_LIB") && return ENV["IJKONET_LIB"]
    local_build = normpath(joinpath(@__DIR__, "..", "..", "..", "..", "target", "release", "libijkonet." * Libdl.dlext))
    isfile(local_build) ? local_build : libijkonet
end

# Every call is `@ccall libijkonet.sym(...)` with `libijkonet` the library's SONAME, a constant: the
# form every Julia version accepts (Julia 1.13 refuses call expressions such as `lib[]` as a ccall
# library). The file itself is chosen at load time: `__init__` opens the path from `_find_library()`
# with RTLD_GLOBAL, and the dynamic loader then resolves the SONAME to that already-loaded library.
# (A path computed in a top-level `const` would be frozen into the precompile cache.)
const libijkonet = "libijkonet.so.0"

# The path `__init__` opened (for messages and tests).
const library_path = Ref{String}("")

function __init__()
    library_path[] = _find_library()
    Libdl.dlopen(library_path[], Libdl.RTLD_LAZY | Libdl.RTLD_GLOBAL)
end

const ERROR_KINDS = (:invalid_argument, :invalid_data, :io, :format, :numerical, :state, :torch, :cancelled,
    :internal, :panic)

"""
    IJKOnetError(code, kind, msg)

A failure reported by the library: its status `code`, the code's name `kind` (e.g. `:invalid_argument`,
`:state`, `:cancelled`) and the library's message.
"""
struct IJKOnetError <: Exception
    code::Int32
    kind::Symbol
    msg::String
end

Base.showerror(io::IO, e::IJKOnetError) = print(io, "IJKOnetError(", e.kind, "): ", e.msg)

# Turn a failed status into an IJKOnetError, releasing the library's error object.
function _check(status::Int32, err::Ref{Ptr{Cvoid}})
    status == 0 && return nothing
    p = err[]
    code = p == C_NULL ? status : @ccall libijkonet.ijk_error_code(p::Ptr{Cvoid})::Int32
    msg = p == C_NULL ? unsafe_string(@ccall libijkonet.ijk_last_error_message()::Cstring) :
          unsafe_string(@ccall libijkonet.ijk_error_message(p::Ptr{Cvoid})::Cstring)
    @ccall libijkonet.ijk_error_free(p::Ptr{Cvoid})::Cvoid
    kind = 1 <= code <= length(ERROR_KINDS) ? ERROR_KINDS[code] : :unknown
    throw(IJKOnetError(code, kind, msg))
end

"""Version of the loaded library as "MAJOR.MINOR.PATCH"."""
version() = VersionNumber(unsafe_string(@ccall libijkonet.ijk_version()::Cstring))

"""ABI version of the loaded library (must equal the header's IJKONET_ABI_VERSION, 2)."""
abi_version() = Int(@ccall libijkonet.ijk_abi_version()::UInt32)

# A configuration handle; only used while building a model.
mutable struct Config
    ptr::Ptr{Cvoid}
    function Config()
        out = Ref{Ptr{Cvoid}}(C_NULL)
        err = Ref{Ptr{Cvoid}}(C_NULL)
        _check(@ccall(libijkonet.ijk_config_new(out::Ptr{Ptr{Cvoid}}, err::Ptr{Ptr{Cvoid}})::Int32), err)
        cfg = new(out[])
        finalizer(cfg) do c
            @ccall libijkonet.ijk_config_free(c.ptr::Ptr{Cvoid})::Cvoid
            c.ptr = C_NULL
        end
    end
end

function _set!(cfg::Config, key::AbstractString, value::Bool)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_config_set_bool(cfg.ptr::Ptr{Cvoid}, key::Cstring, value::Bool,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
end

function _set!(cfg::Config, key::AbstractString, value::Integer)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_config_set_int(cfg.ptr::Ptr{Cvoid}, key::Cstring, Int64(value)::Int64,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
end

function _set!(cfg::Config, key::AbstractString, value::AbstractFloat)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_config_set_double(cfg.ptr::Ptr{Cvoid}, key::Cstring, Float64(value)::Float64,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
end

function _set!(cfg::Config, key::AbstractString, value)
    text = value isa AbstractVector ? join(string.(value), ",") : string(value)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_config_set_str(cfg.ptr::Ptr{Cvoid}, key::Cstring, text::Cstring,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
end

"""
    Model(; method="ijkonet", variant="V", options...)

An untrained model. Options are the library's configuration keys, e.g. `epochs=100`,
`energy_hidden=[64, 64]`, `batch_size=64`, `seed=0`, `threads=1`, `device="cpu"`. The handle is
released by a finalizer.
"""
mutable struct Model
    ptr::Ptr{Cvoid}
    function Model(ptr::Ptr{Cvoid})
        m = new(ptr)
        finalizer(m) do h
            @ccall libijkonet.ijk_model_free(h.ptr::Ptr{Cvoid})::Cvoid
            h.ptr = C_NULL
        end
    end
end

function Model(; method = "ijkonet", variant = "V", options...)
    cfg = Config()
    _set!(cfg, "method", string(method))
    _set!(cfg, "variant", string(variant))
    for (key, value) in options
        _set!(cfg, string(key), value)
    end
    out = Ref{Ptr{Cvoid}}(C_NULL)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_new(cfg.ptr::Ptr{Cvoid}, out::Ptr{Ptr{Cvoid}}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    Model(out[])
end

function _handle(m::Model)
    m.ptr == C_NULL && throw(IJKOnetError(1, :invalid_argument, "the model handle was released"))
    m.ptr
end

const STATES = (:collecting, :trained, :failed, :loaded)

"""State of the model: `:collecting`, `:trained`, `:failed` or `:loaded`."""
function state(m::Model)
    out = Ref{Int32}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_state(_handle(m)::Ptr{Cvoid}, out::Ptr{Int32}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    STATES[out[]+1]
end

"""Dimension d of the model's data."""
function dimension(m::Model)
    out = Ref{Csize_t}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_dim(_handle(m)::Ptr{Cvoid}, out::Ptr{Csize_t}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    Int(out[])
end

"""The sorted snapshot times the model was trained on."""
function snapshot_times(m::Model)
    k = Ref{Csize_t}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_num_times(_handle(m)::Ptr{Cvoid}, k::Ptr{Csize_t}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    out = Vector{Float64}(undef, k[])
    _check(@ccall(libijkonet.ijk_model_times(_handle(m)::Ptr{Cvoid}, out::Ptr{Float64}, k[]::Csize_t,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
    out
end

"""The learned diffusion coefficient θ₃ (0 when the variant has no internal energy)."""
function theta3(m::Model)
    out = Ref{Float64}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_theta3(_handle(m)::Ptr{Cvoid}, out::Ptr{Float64}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    out[]
end

function Base.show(io::IO, m::Model)
    if m.ptr == C_NULL
        print(io, "IJKOnet.Model(released)")
        return
    end
    s = state(m)
    print(io, "IJKOnet.Model(", s)
    if s != :collecting
        info = model_info(m)
        print(io, ", ", info.method, ", variant=", info.variant, ", d=", dimension(m), ", times=", snapshot_times(m),
            ", epochs=", epochs_done(m))
    end
    print(io, ")")
end

# n × d cells (rows) as the d × n matrix whose memory is the library's row-major layout.
function _rows(x::AbstractMatrix{<:Real})
    isempty(x) && throw(ArgumentError("the point matrix is empty"))
    Matrix{Float64}(permutedims(x))
end
_rows(x::AbstractVector{<:Real}) = _rows(reshape(x, 1, :))

"""
What the progress callback of `fit!` receives after each epoch: the C struct `ijk_progress`, field for
field (`struct_size` is the size of the struct the library filled; fields are only ever appended).
"""
struct Progress
    struct_size::Csize_t
    epoch::UInt64
    epochs::UInt64
    energy_loss::Float64
    map_loss::Float64
    metric::Float64
end

mutable struct _CallbackState
    f::Any
    error::Any
end

# Runs inside the library's training loop: exceptions (an InterruptException from Ctrl-C included)
# must not unwind through the library's frames, so they are stored and training is cancelled.
function _progress_trampoline(p::Ptr{Progress}, user_data::Ptr{Cvoid})::Int32
    st = unsafe_pointer_to_objref(user_data)::_CallbackState
    try
        return st.f(unsafe_load(p)) === true ? Int32(1) : Int32(0)
    catch e
        st.error = e
        return Int32(1)
    end
end

function _print_progress(p::Progress)
    print(stderr, "\repoch ", p.epoch, " (", p.epochs, " this call)  energy loss ", round(p.energy_loss; sigdigits = 4),
        "  map loss ", round(p.map_loss; sigdigits = 4))
    false
end

# Labels that are plain decimal numbers ("0", "2.5", "-1e3"); not "Inf", "NaN" or hexadecimal.
const _NUMERIC_LABEL = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"

function _quote_labels(labels; max = 5)
    shown = join(("\"" * l * "\"" for l in first(labels, max)), ", ")
    length(labels) > max ? shown * " and $(length(labels) - max) more" : shown
end

# The time of every entry of `time`. Numbers are used as they are; labels (strings, symbols,
# categorical values) must all be numbers ("0", "2.5") or be mapped by `time_values` (label => time).
# Numbering other labels 0, 1, 2, ... in sorted order would silently scramble the snapshots ("day10"
# sorts before "day2"), so they are refused.
function _time_values(time::AbstractVector, time_values::Union{Nothing,AbstractDict} = nothing)
    if eltype(time) <: Real
        time_values === nothing ||
            throw(ArgumentError("time_values maps time labels to times, but time is already numeric"))
        tv = Float64.(time)
    elseif time_values !== nothing
        mapping = Dict{String,Float64}()
        for (label, t) in time_values
            t isa Real && isfinite(t) ||
                throw(ArgumentError("time_values must map every label to a finite number (label \"$label\" => $t)"))
            mapping[string(label)] = Float64(t)
        end
        labels = string.(time)
        unmapped = unique(filter(l -> !haskey(mapping, l), labels))
        isempty(unmapped) ||
            throw(ArgumentError("time_values has no time for the label(s) $(_quote_labels(unmapped))"))
        tv = Float64[mapping[l] for l in labels]
    else
        labels = string.(time)
        bad = unique(filter(l -> !occursin(_NUMERIC_LABEL, l), labels))
        isempty(bad) || throw(ArgumentError("time label(s) $(_quote_labels(bad)) are not numbers; give the time of " *
            "every label with time_values, e.g. time_values = Dict(\"$(bad[1])\" => <time>, ...)"))
        tv = Float64[parse(Float64, strip(l)) for l in labels]
    end
    all(isfinite, tv) || throw(ArgumentError("times must be finite numbers"))
    tv
end

"""
    fit!(model, x, time; time_values=nothing, epochs=0, progress=true, callback=nothing)
    fit!(model; epochs=0, progress=true, callback=nothing)

Add the snapshots in `x` (`n × d`, one row per cell; one snapshot per distinct `time`) and train for
`epochs` epochs (0: the model's `epochs` option). Without `x`, continue training. `callback(p::Progress)`
runs after each epoch and cancels training by returning `true`; an exception in it (Ctrl-C
included) cancels training and is rethrown. Returns the model.

`time` holds one entry per row: numbers are the snapshot times; labels (strings, symbols, categorical
values) whose text is a number ("0", "2.5") are those numbers; any other labels need
`time_values::AbstractDict` giving each label's time, e.g.
`time_values = Dict("day2" => 2, "day10" => 10)` (otherwise an `ArgumentError` names the labels:
labels are never numbered in sorted order, where "day10" would come before "day2").
"""
function fit!(m::Model, x::AbstractMatrix{<:Real}, time::AbstractVector;
    time_values::Union{Nothing,AbstractDict} = nothing, kwargs...)
    size(x, 1) == length(time) ||
        throw(ArgumentError("time must have one entry per row of x ($(size(x, 1)) rows, $(length(time)) times)"))
    tv = _time_values(time, time_values)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    for t in sort(unique(tv))
        rows = _rows(x[tv.==t, :])
        _check(@ccall(libijkonet.ijk_model_add_snapshot_f64(_handle(m)::Ptr{Cvoid}, t::Float64, rows::Ptr{Float64},
            size(rows, 2)::Csize_t, size(rows, 1)::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    end
    fit!(m; kwargs...)
end

function fit!(m::Model; epochs::Integer = 0, progress::Bool = true, callback = nothing)
    epochs >= 0 || throw(ArgumentError("epochs must be non-negative"))
    f = callback !== nothing ? callback : progress ? _print_progress : (_ -> false)
    st = _CallbackState(f, nothing)
    cb = @cfunction(_progress_trampoline, Int32, (Ptr{Progress}, Ptr{Cvoid}))
    err = Ref{Ptr{Cvoid}}(C_NULL)
    status = GC.@preserve st @ccall libijkonet.ijk_model_train(_handle(m)::Ptr{Cvoid}, UInt64(epochs)::UInt64,
        cb::Ptr{Cvoid}, pointer_from_objref(st)::Ptr{Cvoid}, err::Ptr{Ptr{Cvoid}})::Int32
    progress && callback === nothing && println(stderr)
    if st.error !== nothing
        err[] == C_NULL || @ccall libijkonet.ijk_error_free(err[]::Ptr{Cvoid})::Cvoid
        throw(st.error)
    end
    _check(status, err)
    m
end

"""
    predict(model, x; step=1, to_time=nothing, from_time=nothing)

One step of the learned map from snapshot `step` (1-based) to the next; or, with `to_time`, the
prediction at `to_time` of cells observed at `from_time` (default: the time of snapshot `step`).
Returns a matrix shaped like `x`.
"""
function predict(m::Model, x::AbstractMatrix{<:Real}; step::Integer = 1, to_time = nothing, from_time = nothing)
    rows = _rows(x)
    d, n = size(rows)
    out = similar(rows)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    if to_time === nothing
        step >= 1 || throw(ArgumentError("step must be ≥ 1"))
        _check(@ccall(libijkonet.ijk_model_predict_step(_handle(m)::Ptr{Cvoid}, (step - 1)::Csize_t, rows::Ptr{Float64},
            n::Csize_t, d::Csize_t, out::Ptr{Float64}, length(out)::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    else
        t_from = from_time === nothing ? snapshot_times(m)[step] : Float64(from_time)
        _check(@ccall(libijkonet.ijk_model_predict_at(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t,
            d::Csize_t, t_from::Float64, Float64(to_time)::Float64, out::Ptr{Float64}, length(out)::Csize_t,
            err::Ptr{Ptr{Cvoid}})::Int32), err)
    end
    permutedims(out)
end

"""
    rollout(model, x; from=1, steps=1)

Chain the learned maps from snapshot `from` (1-based) for `steps` steps: an `n × d × steps` array
of the predicted clouds at the following snapshot times.
"""
function rollout(m::Model, x::AbstractMatrix{<:Real}; from::Integer = 1, steps::Integer = 1)
    rows = _rows(x)
    d, n = size(rows)
    len = Ref{Csize_t}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_rollout_len(n::Csize_t, d::Csize_t, steps::Csize_t, len::Ptr{Csize_t},
        err::Ptr{Ptr{Cvoid}})::Int32), err)
    out = Array{Float64}(undef, d, n, steps)
    _check(@ccall(libijkonet.ijk_model_rollout(_handle(m)::Ptr{Cvoid}, (from - 1)::Csize_t, steps::Csize_t,
        rows::Ptr{Float64}, n::Csize_t, d::Csize_t, out::Ptr{Float64}, len[]::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    permutedims(out, (2, 1, 3))
end

"""
    IJKOnet.simulate(model, x0; t0=0.0, dt=0.1, n_steps=10, seed=0)

Euler–Maruyama simulation of the learned SDE from the cells `x0` (`n × d`): an
`n × d × (n_steps + 1)` array whose first slice is `x0`. Not exported (other packages have their
own `simulate`): call it qualified.
"""
function simulate(m::Model, x0::AbstractMatrix{<:Real}; t0::Real = 0.0, dt::Real = 0.1, n_steps::Integer = 10,
    seed::Integer = 0)
    rows = _rows(x0)
    d, n = size(rows)
    len = Ref{Csize_t}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_simulate_len(n::Csize_t, d::Csize_t, n_steps::Csize_t, len::Ptr{Csize_t},
        err::Ptr{Ptr{Cvoid}})::Int32), err)
    out = Array{Float64}(undef, d, n, n_steps + 1)
    _check(@ccall(libijkonet.ijk_model_simulate(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t, d::Csize_t,
        Float64(t0)::Float64, Float64(dt)::Float64, n_steps::Csize_t, UInt64(seed)::UInt64, out::Ptr{Float64},
        len[]::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    permutedims(out, (2, 1, 3))
end

# The time argument of the potential queries: `nothing` for one time (the scalar call), or the n
# per-row times as a Vector{Float64} (the *_rows call).
function _row_times(t, n)
    t isa Real && return nothing
    length(t) == n || throw(ArgumentError("t must be one time or one time per row of x ($n rows, $(length(t)) times)"))
    Vector{Float64}(t)
end

"""
    potential(model, x; t=0.0)

The learned potential V(x, t) (up to a constant) at the rows of `x`: a vector. `t` is one time for
every row, or a vector with one time per row (for points living at different times); it matters
only for time-dependent variants (`"t,V"`).
"""
function potential(m::Model, x::AbstractMatrix{<:Real}; t::Union{Real,AbstractVector{<:Real}} = 0.0)
    rows = _rows(x)
    d, n = size(rows)
    ts = _row_times(t, n)
    out = Vector{Float64}(undef, n)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    if ts === nothing
        _check(@ccall(libijkonet.ijk_model_potential(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t,
            d::Csize_t, Float64(t)::Float64, out::Ptr{Float64}, n::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    else
        _check(@ccall(libijkonet.ijk_model_potential_rows(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t,
            d::Csize_t, ts::Ptr{Float64}, out::Ptr{Float64}, n::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    end
    out
end

"""
    grad_potential(model, x; t=0.0)

The gradient ∇V(x, t) of the learned potential at the rows of `x` (the drift is −∇V): a matrix
shaped like `x`. `t` as in [`potential`](@ref): one time, or one per row. (`IJKOnet.gradient` is
the same function under its former name, not exported: it clashes with Zygote and ForwardDiff.)
"""
function grad_potential(m::Model, x::AbstractMatrix{<:Real}; t::Union{Real,AbstractVector{<:Real}} = 0.0)
    rows = _rows(x)
    d, n = size(rows)
    ts = _row_times(t, n)
    out = similar(rows)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    if ts === nothing
        _check(@ccall(libijkonet.ijk_model_grad_potential(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t,
            d::Csize_t, Float64(t)::Float64, out::Ptr{Float64}, length(out)::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    else
        _check(@ccall(libijkonet.ijk_model_grad_potential_rows(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64},
            n::Csize_t, d::Csize_t, ts::Ptr{Float64}, out::Ptr{Float64}, length(out)::Csize_t,
            err::Ptr{Ptr{Cvoid}})::Int32), err)
    end
    permutedims(out)
end

const gradient = grad_potential

"""
    interaction_field(model, x, population)

The interaction field (∇W ∗ ρ)(xᵢ) = (1/m) Σⱼ ∇W(xᵢ − yⱼ) at the rows xᵢ of `x` over the population
ρ given by the m rows yⱼ of `population`: a matrix shaped like `x`. A variant without an interaction
term (no `W`) throws an `IJKOnetError` of kind `:state`.
"""
function interaction_field(m::Model, x::AbstractMatrix{<:Real}, population::AbstractMatrix{<:Real})
    rows = _rows(x)
    pop = _rows(population)
    size(rows, 1) == size(pop, 1) ||
        throw(ArgumentError("x and population have different numbers of columns ($(size(rows, 1)) and $(size(pop, 1)))"))
    d, n = size(rows)
    out = similar(rows)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_interaction_field(_handle(m)::Ptr{Cvoid}, rows::Ptr{Float64}, n::Csize_t,
        pop::Ptr{Float64}, size(pop, 2)::Csize_t, d::Csize_t, out::Ptr{Float64}, length(out)::Csize_t,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
    permutedims(out)
end

"""
    copy(model) -> Model

An exact, independent copy of a trained or loaded model's current parameters (`ijk_model_clone`),
in state `:loaded`: it answers every query as the original does, cannot be trained, and does not
change when the original trains further. Calls on one model run one at a time; give each task or
thread its own copy to run queries in parallel (with `IJKOnet.set_num_threads(1)`).
"""
function Base.copy(m::Model)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_clone(_handle(m)::Ptr{Cvoid}, out::Ptr{Ptr{Cvoid}}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    Model(out[])
end

"""
    set_num_threads(n)

Set libtorch's intra-op thread count for the whole process (1 ≤ n ≤ 1024).
"""
function set_num_threads(n::Integer)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_set_num_threads(Int32(n)::Int32, err::Ptr{Ptr{Cvoid}})::Int32), err)
    nothing
end

"""Training epochs completed by the model (the count stored in the file for a loaded model)."""
function epochs_done(m::Model)
    out = Ref{UInt64}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_epochs_done(_handle(m)::Ptr{Cvoid}, out::Ptr{UInt64}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    Int(out[])
end

# One key of ijk_model_info: a size query, then the copy.
function _info(m::Model, key::AbstractString)
    needed = Ref{Csize_t}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_info(_handle(m)::Ptr{Cvoid}, key::Cstring, C_NULL::Ptr{UInt8}, 0::Csize_t,
        needed::Ptr{Csize_t}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    buf = Vector{UInt8}(undef, needed[])
    _check(@ccall(libijkonet.ijk_model_info(_handle(m)::Ptr{Cvoid}, key::Cstring, buf::Ptr{UInt8}, length(buf)::Csize_t,
        C_NULL::Ptr{Csize_t}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    GC.@preserve buf unsafe_string(pointer(buf))
end

"""
    model_info(model)

A description of a trained or loaded model: a NamedTuple `(method, variant, device, centre, scale)`:
the learning method, the energy terms actually trained (e.g. `"t,V"`, never `"auto"`), the device
(`"cpu"`, `"cuda:0"`) and the normalisation of the data (the model works in `(x .- centre) ./ scale`;
`centre` has one value per coordinate).
"""
function model_info(m::Model)
    norm = Dict{String,Vector{Float64}}()
    for part in split(_info(m, "normalisation"), ';')
        key, values = split(part, '='; limit = 2)
        norm[strip(key)] = parse.(Float64, split(values, ','))
    end
    (method = _info(m, "method"), variant = _info(m, "variant"), device = _info(m, "device"),
        centre = norm["centre"], scale = norm["scale"])
end

# The C codes of the naive predictions (IJK_BASELINE_* in ijkonet.h).
const BASELINES = (no_motion = Int32(0), mean_shift = Int32(1), affine_ot = Int32(2))

"""
    baseline_predict(model, x, step; baseline=:affine_ot)

A naive prediction of where the cells `x` (`n × d`) of snapshot `step` (1-based) are at the next
snapshot, with a map fitted on the training snapshots: `:no_motion` returns `x` unchanged,
`:mean_shift` moves every cell by the difference of the two snapshots' means, `:affine_ot` applies
the optimal-transport map between Gaussian fits of the two snapshots (Ledoit–Wolf shrunk
covariances). A learned model is only useful where it beats these (see [`evaluate_step`](@ref)).
Returns a matrix shaped like `x`. A model saved by an older library version has no baseline fits
(an `IJKOnetError` of kind `:state`).
"""
function baseline_predict(m::Model, x::AbstractMatrix{<:Real}, step::Integer; baseline::Symbol = :affine_ot)
    haskey(BASELINES, baseline) ||
        throw(ArgumentError("unknown baseline :$baseline (expected :no_motion, :mean_shift or :affine_ot)"))
    step >= 1 || throw(ArgumentError("step must be ≥ 1"))
    rows = _rows(x)
    d, n = size(rows)
    out = similar(rows)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_baseline_predict(_handle(m)::Ptr{Cvoid}, BASELINES[baseline]::Int32,
        (step - 1)::Csize_t, rows::Ptr{Float64}, n::Csize_t, d::Csize_t, out::Ptr{Float64}, length(out)::Csize_t,
        err::Ptr{Ptr{Cvoid}})::Int32), err)
    permutedims(out)
end

"""
    evaluate_step(model, step, x, x_next)

Held-out evaluation of step `step` (1-based): the cells `x` of snapshot `step` are predicted forward
by the model (as [`predict`](@ref)) and by each naive prediction of [`baseline_predict`](@ref), and
each prediction is compared with the cells `x_next` of the next snapshot by the exact W1 distance.
Returns `(model_w1, no_motion, mean_shift, affine_ot)` as a NamedTuple; `no_motion` is
`wasserstein1(x, x_next)`. The model beats the naive predictions when `model_w1` is below the other three.
"""
function evaluate_step(m::Model, step::Integer, x::AbstractMatrix{<:Real}, x_next::AbstractMatrix{<:Real})
    step >= 1 || throw(ArgumentError("step must be ≥ 1"))
    a = _rows(x)
    b = _rows(x_next)
    size(a, 1) == size(b, 1) ||
        throw(ArgumentError("x and x_next have different numbers of columns ($(size(a, 1)) and $(size(b, 1)))"))
    out = Vector{Float64}(undef, 4)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_evaluate_step(_handle(m)::Ptr{Cvoid}, (step - 1)::Csize_t, a::Ptr{Float64},
        size(a, 2)::Csize_t, b::Ptr{Float64}, size(b, 2)::Csize_t, size(a, 1)::Csize_t, out::Ptr{Float64},
        length(out)::Csize_t, err::Ptr{Ptr{Cvoid}})::Int32), err)
    (model_w1 = out[1], no_motion = out[2], mean_shift = out[3], affine_ot = out[4])
end

"""
    wasserstein1(x, y)

The exact Wasserstein-1 (earth mover's) distance between the uniform distributions on the rows of
`x` and of `y` (Euclidean ground cost); the numbers of rows may differ.
"""
function wasserstein1(x::AbstractMatrix{<:Real}, y::AbstractMatrix{<:Real})
    a = _rows(x)
    b = _rows(y)
    size(a, 1) == size(b, 1) ||
        throw(ArgumentError("x and y have different numbers of columns ($(size(a, 1)) and $(size(b, 1)))"))
    out = Ref{Float64}(0)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_metric_w1(a::Ptr{Float64}, size(a, 2)::Csize_t, b::Ptr{Float64}, size(b, 2)::Csize_t,
        size(a, 1)::Csize_t, out::Ptr{Float64}, err::Ptr{Ptr{Cvoid}})::Int32), err)
    out[]
end

"""
    IJKOnet.save(model, path)

Save the trained model (weights, configuration, snapshot times) to one safetensors file. Not
exported (FileIO, JLD2 and others export `save`): call it qualified.
"""
function save(m::Model, path::AbstractString)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    _check(@ccall(libijkonet.ijk_model_save(_handle(m)::Ptr{Cvoid}, String(path)::Cstring, err::Ptr{Ptr{Cvoid}})::Int32), err)
    path
end

"""
    load_model(path; device=nothing) -> Model

Load a model saved by `IJKOnet.save`; it answers queries but cannot be trained further. `device`:
`nothing` (the device it was saved from, or the CPU when that CUDA device is not available),
`"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`; any other string is an `IJKOnetError` of kind
`:invalid_argument`.
"""
function load_model(path::AbstractString; device::Union{Nothing,AbstractString} = nothing)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    err = Ref{Ptr{Cvoid}}(C_NULL)
    status = if device === nothing
        @ccall(libijkonet.ijk_model_load_on(String(path)::Cstring, C_NULL::Ptr{UInt8}, out::Ptr{Ptr{Cvoid}},
            err::Ptr{Ptr{Cvoid}})::Int32)
    else
        @ccall(libijkonet.ijk_model_load_on(String(path)::Cstring, String(device)::Cstring, out::Ptr{Ptr{Cvoid}},
            err::Ptr{Ptr{Cvoid}})::Int32)
    end
    _check(status, err)
    Model(out[])
end

end # module
