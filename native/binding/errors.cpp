#include "binding/errors.h"

#include <c10/util/Exception.h>

#include <new>

namespace hexa::binding {

JsError Classify(const char* fn, std::exception_ptr ex) {
  const std::string prefix = std::string(fn) + ": ";
  try {
    std::rethrow_exception(ex);
  } catch (const JsError& e) {
    // Messages from our own checks already start with the function name.
    return e;
  } catch (const c10::TypeError& e) {
    return {ErrorKind::TypeError, prefix + e.what_without_backtrace()};
  } catch (const c10::IndexError& e) {
    return {ErrorKind::RangeError, prefix + e.what_without_backtrace()};
  } catch (const c10::ValueError& e) {
    return {ErrorKind::RangeError, prefix + e.what_without_backtrace()};
  } catch (const c10::OutOfMemoryError& e) {
    return {ErrorKind::Error, prefix + "out of memory: " + e.what_without_backtrace()};
  } catch (const c10::Error& e) {
    return {ErrorKind::Error, prefix + e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::Error, prefix + "out of memory"};
  } catch (const std::exception& e) {
    return {ErrorKind::Error, prefix + e.what()};
  } catch (...) {
    return {ErrorKind::Error, prefix + "unknown native exception"};
  }
}

Napi::Error ToJsError(Napi::Env env, const JsError& e) {
  switch (e.kind) {
    case ErrorKind::TypeError:
      return Napi::TypeError::New(env, e.message);
    case ErrorKind::RangeError:
      return Napi::RangeError::New(env, e.message);
    default:
      return Napi::Error::New(env, e.message);
  }
}

}  // namespace hexa::binding
