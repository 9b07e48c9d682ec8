# Imported targets of the ijkonet library. Included by ijkonetConfig.cmake (installed tree) and by the
# project's CMakeLists.txt (build tree), which set _ijk_shared_location, _ijk_static_location,
# _ijk_include_dir, _ijk_libtorch_lib and _ijk_soname (libijkonet.so.MAJOR) first.
#   ijkonet::ijkonet         the shared library libijkonet.so (finds libtorch through its RUNPATH)
#   ijkonet::ijkonet_static  the static library libijkonet.a (links libtorch's shared libraries and the
#                            static system OpenBLAS/LAPACK that JKOnet*'s closed form uses)
if(NOT TARGET ijkonet::ijkonet)
  add_library(ijkonet::ijkonet SHARED IMPORTED GLOBAL)
  set_target_properties(ijkonet::ijkonet PROPERTIES
    IMPORTED_LOCATION "${_ijk_shared_location}"
    IMPORTED_SONAME "${_ijk_soname}"
    INTERFACE_INCLUDE_DIRECTORIES "${_ijk_include_dir}"
    # The linker resolves libijkonet.so's own dependencies (libtorch) through this path.
    INTERFACE_LINK_OPTIONS "LINKER:-rpath-link,${_ijk_libtorch_lib}")
endif()
if(NOT TARGET ijkonet::ijkonet_static)
  add_library(ijkonet::ijkonet_static STATIC IMPORTED GLOBAL)
  set(_ijk_torch_libs torch torch_cpu c10)
  if(EXISTS "${_ijk_libtorch_lib}/libtorch_cuda.so")
    list(APPEND _ijk_torch_libs torch_cuda)
  endif()
  list(TRANSFORM _ijk_torch_libs PREPEND "${_ijk_libtorch_lib}/lib")
  list(TRANSFORM _ijk_torch_libs APPEND ".so")
  find_package(Threads REQUIRED)
  # Debian's static OpenBLAS (libopenblas-dev), linked as the Rust build links it (.cargo/config.toml).
  set(_ijk_openblas "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a")
  set_target_properties(ijkonet::ijkonet_static PROPERTIES
    IMPORTED_LOCATION "${_ijk_static_location}"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C;CXX"
    INTERFACE_INCLUDE_DIRECTORIES "${_ijk_include_dir}"
    # libtorch_cuda registers the CUDA backend when loaded, without symbol references: keep it.
    # hdf5_serial: Debian's libhdf5 (libhdf5-dev), which the .h5ad reader calls.
    INTERFACE_LINK_LIBRARIES "-Wl,--no-as-needed;${_ijk_torch_libs};-Wl,--as-needed;${_ijk_openblas};gfortran;hdf5_serial;stdc++;Threads::Threads;dl;m;rt;util"
    # OpenBLAS's symbols must not be exported from the executable, or they displace libtorch's own BLAS.
    INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_ijk_libtorch_lib};LINKER:--exclude-libs,libopenblas.a")
endif()
