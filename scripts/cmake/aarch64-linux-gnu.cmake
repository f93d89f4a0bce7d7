# CMake toolchain file for the linux-arm64 prebuild, cross-compiled on linux-x64 with Debian's
# aarch64 cross compiler (g++-aarch64-linux-gnu; scripts/install-cross.sh). Passed by
# `node scripts/build-native.mjs --arch arm64` as --CDCMAKE_TOOLCHAIN_FILE through cmake-js.
# The addon links no TensorRT library and only the static cudart (given as CUDART_STATIC), so
# nothing else needs to be found for the target: the sysroot is the cross toolchain's glibc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TRTNODE_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${TRTNODE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${TRTNODE_CROSS_TRIPLE}-g++)
set(CMAKE_STRIP ${TRTNODE_CROSS_TRIPLE}-strip)

# Libraries and headers of the target only; programs (cmake's own helpers) of the host.
set(CMAKE_FIND_ROOT_PATH /usr/${TRTNODE_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
